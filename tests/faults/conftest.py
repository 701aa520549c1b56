"""Shared parts of the fault-injection suite: a worker per module, producers, figures.

Each module shares one worker (a fresh topic prefix and consumer group) for all its tests,
in one event loop per module, so the suite pays for a worker start once per kind of fault.
Every test reports its figures with :func:`report`: comments in, comments accounted for,
duplicates after dedupe, and the time to recover.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from records import DeadLetter, decode, encode
from records.base import Record
from tests.integration.conftest import (
    READY_TIMEOUT_S,
    KeywordClassifier,
    RunningWorker,
    _read,
    topic_size,
    worker_settings,
)
from worker.broker import EmbeddedBroker
from worker.context import WorkerContext

__all__ = ["topic_size"]  # the integration fixture, for tests that count a topic


def new_prefix() -> str:
    return f"f{uuid.uuid4().hex[:10]}."


async def start_worker(
    broker: EmbeddedBroker, prefix: str, classifier: Any = None, **overrides: Any
) -> RunningWorker:
    """A started worker with the web app, on ``broker``, isolated by ``prefix``."""
    from worker.app import create_app

    settings = worker_settings(broker, prefix, **overrides)
    classifier = classifier if classifier is not None else KeywordClassifier()
    ctx = WorkerContext(settings=settings)
    app = create_app(settings, ctx=ctx, classifier=classifier, web_app=True)
    await asyncio.wait_for(app.start(), timeout=READY_TIMEOUT_S)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ctx.ready:
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker not ready within {READY_TIMEOUT_S:.0f}s")
        await asyncio.sleep(0.1)
    return RunningWorker(app=app, ctx=ctx, settings=settings, classifier=classifier)


async def stop_worker(worker: RunningWorker) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(worker.app.stop(), timeout=30)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_worker(broker: EmbeddedBroker) -> AsyncIterator[RunningWorker]:
    """One worker (with its web app) for every test of the module."""
    worker = await start_worker(broker, new_prefix())
    yield worker
    await stop_worker(worker)


async def send(
    bootstrap: str, topic: str, values: Sequence[Record | bytes | None], key: bytes
) -> list[tuple[int, int]]:
    """Write records (encoded), raw bytes or None (an empty value) in order, acks=all;
    returns the (partition, offset) of each."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        written = []
        for value in values:
            data = value if value is None or isinstance(value, bytes) else encode(value)
            meta = await producer.send_and_wait(topic, data, key=key)
            written.append((meta.partition, meta.offset))
        return written
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, done: Any, within: float = 90.0) -> list[Any]:
    """Records of ``topic`` from the start until ``done(records)``; AssertionError if not."""
    got = await _read(bootstrap, topic, None, within, done)
    assert done(got), f"{topic}: condition not met within {within:.0f}s ({len(got)} records)"
    return got


async def dead_letters_from(worker: RunningWorker, topic: str, n: int) -> list[DeadLetter]:
    """The dead letters whose source is ``topic``, once there are ``n`` of them."""

    def of_topic(records: list[Any]) -> list[DeadLetter]:
        letters = [decode(r.value, DeadLetter) for r in records]
        return [letter for letter in letters if letter.topic == topic]

    records = await read_all(
        bootstrap_of(worker), worker.topics.deadletter, lambda got: len(of_topic(got)) >= n
    )
    return of_topic(records)


def bootstrap_of(worker: RunningWorker) -> str:
    return worker.settings.broker.split("://", 1)[1]


async def ready_status(worker: RunningWorker) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{worker.ctx.web_url}/ready") as response,
    ):
        return response.status


@dataclass(frozen=True)
class Figures:
    """What one fault did: comments in, accounted for, duplicates after dedupe, recovery."""

    fault: str
    comments_in: int
    accounted_for: int
    duplicates_after_dedupe: int
    recover_s: float
    note: str = ""

    def line(self) -> str:
        return (
            f"FIGURES {self.fault}: in={self.comments_in} accounted={self.accounted_for} "
            f"duplicates_after_dedupe={self.duplicates_after_dedupe} "
            f"recover_s={self.recover_s:.1f}" + (f" ({self.note})" if self.note else "")
        )


def report(figures: Figures) -> Figures:
    """Print the figures (``pytest -s tests/faults`` shows them) and check they add up."""
    print(figures.line())
    assert figures.accounted_for == figures.comments_in, figures.line()
    assert figures.duplicates_after_dedupe == 0, figures.line()
    return figures


REPO = Path(__file__).resolve().parents[2]
TRIAGE = Path(sys.executable).parent / "triage"


def spawn(
    broker: EmbeddedBroker,
    prefix: str,
    log_path: Path,
    *,
    fault: str | None = None,
    **env: str,
) -> subprocess.Popen[bytes]:
    """``triage run`` as a process on ``broker`` (with a planted fault: tests/faults/inject.py)."""
    values = {
        **os.environ,
        "TRIAGE_BROKER": broker.url,
        "TRIAGE_TOPIC_PREFIX": prefix,
        "TRIAGE_APP_ID": f"{prefix}proc".replace(".", "-"),
        "TRIAGE_PARTITIONS": "2",
        "TRIAGE_SESSION_TIMEOUT_S": "10",
        "TRIAGE_WEB_PORT": "0",
        "TRIAGE_BATCH_SIZE": "8",
        "TRIAGE_LOG_FORMAT": "json",
        "TRIAGE_LOG_LEVEL": "info",
        **env,
    }
    if fault is None:
        argv = [str(TRIAGE), "run"]
    else:
        marker = log_path.with_suffix(".marker")
        argv = [sys.executable, "-m", "tests.faults.inject", fault, str(marker)]
    with log_path.open("ab") as log:
        return subprocess.Popen(argv, env=values, stdout=log, stderr=log, cwd=REPO)


def kill(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
