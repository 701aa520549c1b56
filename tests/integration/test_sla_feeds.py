"""The whole-topic reader behind the SLA state: barriers after a rebalance."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiokafka import AIOKafkaProducer

from records import Topics
from records.admin import ensure_topic
from records.kafka import KafkaConnection
from records.retention import RetentionPolicy
from worker.sla.feeds import follow_topic
from worker.sla.store import StateStore

pytestmark = pytest.mark.integration


async def _write(bootstrap: str, topic: str, start: int, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sends = [
            await producer.send(topic, key=f"k{i % 7}".encode(), value=f"v{i}".encode())
            for i in range(start, start + count)
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def test_a_sync_barrier_waits_for_everything_written_before_it(broker, topic_prefix):
    """Once a barrier is set, every record written before it was asked for has been read."""
    topics = Topics(topic_prefix)
    topic = topics.sla_state
    kafka = KafkaConnection((broker.bootstrap,))
    await ensure_topic(kafka, topics.specs(RetentionPolicy())[topic], 2)
    await _write(broker.bootstrap, topic, 0, 5)
    seen: list[bytes] = []
    caught_up = asyncio.Event()
    syncs: asyncio.Queue[asyncio.Event] = asyncio.Queue()
    reader = asyncio.ensure_future(
        follow_topic(
            kafka,
            topic,
            lambda _key, value: seen.append(value or b""),
            caught_up,
            poll_ms=200,
            syncs=syncs,
        )
    )
    try:
        await asyncio.wait_for(caught_up.wait(), 30)
        assert len(seen) >= 5
        await _write(broker.bootstrap, topic, 5, 300)
        reached = asyncio.Event()
        syncs.put_nowait(reached)
        await asyncio.wait_for(reached.wait(), 30)
        assert sorted(seen) == sorted(f"v{i}".encode() for i in range(305))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def test_store_sync_gives_up_when_no_reader_answers() -> None:
    """Without a reader the barrier is never reached: sync reports it instead of hanging."""
    store = StateStore()
    assert await store.sync(0.2) is False
