"""Shared fixtures: the embedded broker and a PostgreSQL server for the session, unique topic
prefixes per test, and databases of both kinds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.postgres import PostgresServer, PostgresUnavailable, postgres_server
from worker.broker import EmbeddedBroker
from worker.db import Database, upgrade


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A real Kafka-protocol broker (Tansu) on a free loopback port, for the whole session."""
    log_path = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log_path) as running:
        yield running


@pytest.fixture
def topic_prefix() -> str:
    """A prefix that keeps each test's topics and consumer groups apart."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on a free loopback port, for the whole session."""
    try:
        with postgres_server() as running:
            yield running
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database: an SQLite file, then a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'triage.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    with server.fresh_database() as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The migrated database behind ``database_url``, closed afterwards."""
    db = Database(database_url)
    upgrade(db)
    yield db
    db.close()
