"""Fixtures for tests against the embedded broker: a running worker, producers, readers.

``running_worker`` starts ``create_app(...)`` in the test's event loop on the session
broker, with the test's own topic prefix and consumer group, waits until it has its
partitions, and stops it afterwards. ``produce`` writes raw bytes or records to a topic;
``read_topic`` reads a topic from the start until it has N records or a timeout passes.

Example (what H6 and H7 can copy)::

    async def test_something(running_worker, produce, read_topic):
        worker = await running_worker()                 # default stand-in classifier
        await produce(worker.topics.comments, [comment], key=lambda c: c.conversation_key)
        got = await read_topic(worker.topics.verdicts, 1, TriageResult)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from records import Comment, Reason, Verdict, decode, encode
from records.base import Record
from worker.broker import EmbeddedBroker
from worker.context import WorkerContext
from worker.settings import Settings

READY_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 60.0


class KeywordClassifier:
    """A stand-in classifier with fixed, readable rules (the pipeline, not the model, is
    under test): 'pothole' -> service request (response lane), 'idiot' -> abusive
    (moderation lane), 'flood' -> service request in the urgent and response lanes."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def classify(self, batch: Sequence[Comment]) -> list[Verdict]:
        self.calls.append(len(batch))
        return [self._one(c.text.lower()) for c in batch]

    @staticmethod
    def _one(text: str) -> Verdict:
        labels: list[Any] = []
        lanes: list[Any] = []
        if "pothole" in text or "flood" in text:
            labels.append("service_request")
        if "flood" in text:
            lanes.append("urgent")
        if "pothole" in text or "flood" in text:
            lanes.append("response")
        if "idiot" in text:
            labels.append("abusive")
            lanes.append("moderation")
        scores = {
            c: (0.9 if c in labels else 0.05)
            for c in ("service_request", "abusive", "misinformation", "spam")
        }
        data: dict[str, Any] = {
            "labels": labels,
            "scores": scores,
            "reasons": [Reason(code=f"test.{label}", clause="test") for label in labels],
            "lane": lanes[0] if lanes else None,
            "model": {"stand-in": "1"},
            "lanes": lanes,
        }
        return Verdict(**data)


def make_comment(
    i: int,
    text: str = "hello",
    *,
    thread: str | None = None,
    council: bool = False,
    platform: str = "facebook",
) -> Comment:
    """A valid Comment with id ``c{i}``; thread defaults to ``t{i}``."""
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    return Comment.model_validate(
        {
            "schema": 1,
            "id": f"c{i}",
            "platform": platform,
            "channel": "nherts",
            "kind": "reply" if council else "comment",
            "thread_id": thread or f"t{i}",
            "author": {"id": "council" if council else f"a{i}", "is_council": council},
            "text": text,
            "created_at": now,
            "received_at": now,
        }
    )


@dataclass
class RunningWorker:
    """A started worker: its App, context, settings and topic names."""

    app: Any
    ctx: WorkerContext
    settings: Settings
    classifier: Any
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def topics(self) -> Any:
        return self.settings.topics


def worker_settings(broker: EmbeddedBroker, topic_prefix: str, **overrides: Any) -> Settings:
    """Settings for a test worker on the session broker, isolated by ``topic_prefix``."""
    values: dict[str, Any] = {
        "broker": broker.url,
        "topic_prefix": topic_prefix,
        "app_id": f"{topic_prefix}worker".replace(".", "-"),
        "partitions": 2,
        "session_timeout_s": 10.0,
        "batch_timeout_ms": 50,
        "web_port": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def running_worker(
    broker: EmbeddedBroker, topic_prefix: str
) -> AsyncIterator[Callable[..., Awaitable[RunningWorker]]]:
    """Factory: ``await running_worker(classifier=None, clock=None, web=False, **settings)``.

    ``web=True`` also serves the aiohttp app on a free port: ``ctx.web_url``.

    Starts the App in this event loop (stand-in ``KeywordClassifier`` unless one is
    given), waits until its partitions are assigned (``ctx.ready``), and stops every
    worker it started when the test ends.
    """
    from worker.app import create_app

    started: list[Any] = []

    async def start(
        classifier: Any = None, clock: Any = None, web: bool = False, **overrides: Any
    ) -> RunningWorker:
        settings = worker_settings(broker, topic_prefix, **overrides)
        classifier = classifier if classifier is not None else KeywordClassifier()
        ctx = WorkerContext(settings=settings)
        app = create_app(settings, ctx=ctx, classifier=classifier, clock=clock, web_app=web)
        started.append(app)
        # start() returns after table recovery, which has no time limit of its own.
        await asyncio.wait_for(app.start(), timeout=READY_TIMEOUT_S)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ctx.ready:
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker not ready within {READY_TIMEOUT_S:.0f}s")
            await asyncio.sleep(0.1)
        return RunningWorker(app=app, ctx=ctx, settings=settings, classifier=classifier)

    yield start
    for app in reversed(started):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(app.stop(), timeout=30)


@pytest.fixture
async def produce(
    broker: EmbeddedBroker,
) -> AsyncIterator[Callable[..., Awaitable[None]]]:
    """``await produce(topic, values, key=...)``: send records (encoded) or raw bytes.

    ``key`` is bytes/str, or a function of each value; sends are awaited (acks=all).
    """
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()

    async def send(topic: str, values: Sequence[Record | bytes], key: Any = None) -> None:
        for value in values:
            k = key(value) if callable(key) else key
            if isinstance(k, str):
                k = k.encode()
            data = value if isinstance(value, bytes) else encode(value)
            await producer.send_and_wait(topic, data, key=k)

    yield send
    await producer.stop()


@pytest.fixture
def read_topic(broker: EmbeddedBroker) -> Callable[..., Awaitable[list[Any]]]:
    """``await read_topic(topic, n, Type=None, within=60)``: read from the start until n.

    Returns decoded records when a record type is given, else aiokafka ConsumerRecords.
    Raises AssertionError naming how many arrived when fewer than n came in time.
    """

    async def read(
        topic: str, n: int, record_type: type[Record] | None = None, within: float = READ_TIMEOUT_S
    ) -> list[Any]:
        got = await _read(broker.bootstrap, topic, n, within)
        if len(got) < n:
            raise AssertionError(f"{topic}: {len(got)} of {n} records within {within:.0f}s")
        if record_type is None:
            return got
        return [decode(m.value, record_type) for m in got]

    return read


@pytest.fixture
def read_topic_until(broker: EmbeddedBroker) -> Callable[..., Awaitable[list[Any]]]:
    """``await read_topic_until(topic, done, within=60)``: read from the start until
    ``done(records_so_far)`` is true (ConsumerRecords); AssertionError on timeout."""

    async def read(
        topic: str, done: Callable[[list[Any]], bool], within: float = READ_TIMEOUT_S
    ) -> list[Any]:
        got = await _read(broker.bootstrap, topic, None, within, done)
        if not done(got):
            raise AssertionError(
                f"{topic}: condition not met within {within:.0f}s ({len(got)} records read)"
            )
        return got

    return read


@pytest.fixture
def topic_size(broker: EmbeddedBroker) -> Callable[[str], Awaitable[int]]:
    """``await topic_size(topic)``: records in the topic now, counted by reading it from the
    start until two seconds pass with nothing new (for a topic nobody is writing to).

    Counting beats summing end offsets: the embedded broker's end offsets have been seen to
    trail what a reader already received."""

    async def size(topic: str) -> int:
        deadline = time.monotonic() + 60
        partitions = await _wait_for_topic(broker.bootstrap, topic, deadline)
        if not partitions:
            return 0
        consumer = AIOKafkaConsumer(
            bootstrap_servers=broker.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        count, quiet_since = 0, time.monotonic()
        try:
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while time.monotonic() - quiet_since < 2 and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                got = sum(len(records) for records in batch.values())
                if got:
                    count, quiet_since = count + got, time.monotonic()
        finally:
            await consumer.stop()
        return count

    return size


async def _read(
    bootstrap: str,
    topic: str,
    n: int | None,
    within: float,
    done: Callable[[list[Any]], bool] | None = None,
) -> list[Any]:
    deadline = time.monotonic() + within
    partitions = await _wait_for_topic(bootstrap, topic, deadline)
    got: list[Any] = []
    if not partitions:
        return got
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)

        def finished() -> bool:
            return done(got) if done is not None else len(got) >= (n or 0)

        while not finished() and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                got.extend(records)
    finally:
        await consumer.stop()
    return got


async def _wait_for_topic(bootstrap: str, topic: str, deadline: float) -> set[int]:
    """The topic's partitions once it exists (listing topics never auto-creates one)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while time.monotonic() < deadline:
            if topic in await admin.list_topics():
                [described] = await admin.describe_topics([topic])
                partitions = {p["partition"] for p in described["partitions"]}
                if partitions:
                    return partitions
            await asyncio.sleep(0.3)
    finally:
        await admin.close()
    return set()
