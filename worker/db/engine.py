"""The database behind ``TRIAGE_DATABASE_URL``: an engine, and transactions that read or write.

SQLite (the default, one file in the data folder) runs in WAL mode so that readers never
wait for a writer, and write transactions begin IMMEDIATE: they take the write lock before
they read, so a read-then-write (the sign-in limiter) cannot act on a stale read when two
processes share the file. PostgreSQL needs neither.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from worker.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000
_IMMEDIATE = "triage_begin_immediate"


class DatabaseError(RuntimeError):
    """The database URL is unusable or the database cannot be reached; says which."""


def database_url(settings: Settings) -> str:
    """TRIAGE_DATABASE_URL, or an SQLite file in the data folder."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return f"sqlite:///{Path(settings.data_dir).resolve()}/triage.db"


def _sqlite_file(url: URL) -> Path | None:
    if url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _private_file(path: Path) -> None:
    # Password hashes live here: the file is the owner's alone (SQLite's -wal and -shm
    # files take the same mode).
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun by the listener below, not by the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _on_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One engine per process and URL; ``read()`` and ``write()`` give ORM sessions."""

    def __init__(self, url: str) -> None:
        try:
            self.url = make_url(url)
        except ArgumentError:
            raise DatabaseError("TRIAGE_DATABASE_URL is not a database URL") from None
        backend = self.url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise DatabaseError(
                f"TRIAGE_DATABASE_URL: use sqlite:/// or postgresql+psycopg://, not {backend}"
            )
        self.kind = backend
        if backend == "sqlite":
            path = _sqlite_file(self.url)
            if path is not None:
                _private_file(path)
            self.engine: Engine = create_engine(self.url)
            event.listen(self.engine, "connect", _on_connect)
            event.listen(self.engine, "begin", _on_begin)
        else:
            # pool_pre_ping: a restarted PostgreSQL costs one failed request, not many.
            self.engine = create_engine(self.url, pool_pre_ping=True)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False
        )

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs and messages."""
        return self.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits when the block ends and rolls back if it raises."""
        with self._writer() as session, session.begin():
            yield session

    def serialise(self, session: Session, lock: int) -> None:
        """Holds ``lock`` until the write transaction ends, so that transactions taking it
        run one at a time. On SQLite the IMMEDIATE write lock already does that."""
        if self.kind == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": lock})

    def close(self) -> None:
        self.engine.dispose()
