"""Alembic migrations, shipped in the package and run from code (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from worker.db.engine import Database, DatabaseError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest revision this version of the worker knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(database: Database) -> str | None:
    """The database's revision; None when it has no tables yet."""
    try:
        with database.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise DatabaseError(_unreachable(database, exc)) from None


def upgrade(database: Database, revision: str = "head") -> None:
    """Brings the schema to ``revision``; a no-op when it is there already."""
    config = _config()
    try:
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(_unreachable(database, exc)) from None
    except CommandError as exc:
        # Typically a database migrated by a newer version than this one.
        raise DatabaseError(
            f"the database {database.safe_url} cannot be migrated to {head()}: {exc}"
            " (was it migrated by a newer version of the worker?)"
        ) from None


def _unreachable(database: Database, exc: SQLAlchemyError) -> str:
    # The driver's message, not str(exc): that carries SQL and its parameters.
    reason = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()[0]
    return f"the database {database.safe_url} cannot be used: {reason}"
