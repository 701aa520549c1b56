"""The database layer on SQLite and on a real PostgreSQL: migrations from code, private
SQLite files, and a clear error for a database that cannot be used."""

from __future__ import annotations

import stat

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, text

from worker.cli import cli, run
from worker.context import WorkerContext
from worker.db import Database, DatabaseError, current, database_url, head, upgrade
from worker.db.models import Base
from worker.settings import Settings


def test_upgrade_builds_the_schema_the_models_describe(database_url):
    """From empty, upgrade reaches the head revision and the tables match the models."""
    db = Database(database_url)
    try:
        assert current(db) is None
        upgrade(db)
        upgrade(db)  # a second run changes nothing
        assert current(db) == head()
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert {"accounts", "api_tokens", "sign_in_attempts"} <= set(
            inspect(db.engine).get_table_names()
        )
    finally:
        db.close()


def test_cli_upgrade_reports_the_revision(database_url, monkeypatch):
    """`triage db upgrade` migrates TRIAGE_DATABASE_URL; `triage db current` says where it is."""
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    runner = CliRunner()
    before = runner.invoke(cli, ["db", "current"])
    assert before.exit_code == 0, before.output
    assert "no tables yet" in before.output
    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    after = runner.invoke(cli, ["db", "current"])
    assert after.stdout.strip() == head()


def test_the_default_is_a_private_sqlite_file_in_the_data_folder(tmp_path):
    """Without TRIAGE_DATABASE_URL the database is <data_dir>/triage.db, mode 0600."""
    url = database_url(Settings(data_dir=tmp_path / "data"))
    assert url == f"sqlite:///{tmp_path / 'data' / 'triage.db'}"
    db = Database(url)
    upgrade(db)
    db.close()
    assert stat.S_IMODE((tmp_path / "data" / "triage.db").stat().st_mode) == 0o600


def test_an_unreachable_database_is_a_clear_error_without_its_password(postgres):
    """A refused connection names the database, hides the password and says why."""
    url = f"postgresql+psycopg://triage:hunter2-secret@127.0.0.1:{postgres.port}/missing_db"
    with pytest.raises(DatabaseError) as raised:
        upgrade(Database(url))
    message = str(raised.value)
    assert "hunter2-secret" not in message
    assert "missing_db" in message
    assert "does not exist" in message


def test_a_database_from_a_newer_version_is_refused_clearly(database):
    """A revision this version does not know stops the upgrade with a message saying so."""
    with database.write() as session:
        session.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
    with pytest.raises(DatabaseError, match="newer version"):
        upgrade(database)


@pytest.mark.parametrize("url", ["mysql://db/triage", "not a url"])
def test_unsupported_urls_are_refused(url):
    """Only SQLite and PostgreSQL URLs are accepted, with a message naming the setting."""
    with pytest.raises(DatabaseError, match="TRIAGE_DATABASE_URL"):
        Database(url)


def test_triage_run_migrates_and_opens_the_accounts_as_it_starts(tmp_path):
    """The start of `triage run` migrates the database, imports an old users file and
    hands the accounts to the web app; an unusable database stops it with a message."""
    (tmp_path / "users.json").write_text('{"users": {}}')
    ctx = WorkerContext(settings=Settings(data_dir=tmp_path))
    run._open_database(ctx)
    assert ctx.views.users is not None
    assert current(ctx.views.users.database) == head()
    ctx.views.users.database.close()
    broken = WorkerContext(settings=Settings(data_dir=tmp_path, database_url="mysql://x/y"))
    with pytest.raises(run.StartError, match="TRIAGE_DATABASE_URL"):
        run._open_database(broken)
