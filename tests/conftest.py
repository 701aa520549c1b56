"""Shared fixtures: the embedded broker for the session, unique topic prefixes per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from worker.broker import EmbeddedBroker


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
