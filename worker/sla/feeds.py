"""Reading a whole topic, from its start, in every worker process.

The SLA view (every case, for reports) and the emergency switches must be the same in
every worker, whichever partitions it owns, so they are read by a plain consumer with
no group, assigned to every partition of the topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from records import InvalidRecord
from records.kafka import KafkaConnection

__all__ = ["Barrier", "OnInvalid", "OnRecord", "follow_topic"]

log = structlog.get_logger(__name__)

OnRecord = Callable[[bytes | None, bytes | None], None]
OnInvalid = Callable[[Any, str], Awaitable[None]]


Barrier = tuple[dict[TopicPartition, int], asyncio.Event]


async def follow_topic(
    kafka: KafkaConnection,
    topic: str,
    on_record: OnRecord,
    caught_up: asyncio.Event | None = None,
    *,
    poll_ms: int = 500,
    on_invalid: OnInvalid | None = None,
) -> None:
    """Call ``on_record(key, value)`` for every record of ``topic``, from the start, for ever.

    ``caught_up`` is set once everything that was on the topic at start has been read.
    A record that
    ``on_record`` refuses with InvalidRecord is skipped and passed to ``on_invalid``
    (to dead-letter it); any other error is a bug and ends the reader.
    """
    consumer = AIOKafkaConsumer(
        **kafka.options(), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps = await _assign_all(consumer, topic, poll_ms)
        await consumer.seek_to_beginning(*tps)
        barriers: list[Barrier] = []
        if caught_up is not None and not caught_up.is_set():
            barriers.append((await consumer.end_offsets(tps), caught_up))
        while True:
            batch = await consumer.getmany(timeout_ms=poll_ms)
            for records in batch.values():
                for record in records:
                    await _deliver(on_record, record, on_invalid)
            if barriers:
                positions = {tp: await consumer.position(tp) for tp in tps}
                for target, reached in barriers:
                    if all(positions[tp] >= target[tp] for tp in tps):
                        reached.set()
                barriers = [b for b in barriers if not b[1].is_set()]
    finally:
        await consumer.stop()


async def _assign_all(consumer: AIOKafkaConsumer, topic: str, poll_ms: int) -> list[TopicPartition]:
    """Assign every partition of ``topic``, waiting for it to exist."""
    while not consumer.partitions_for_topic(topic):
        await consumer.topics()  # refreshes the metadata
        if consumer.partitions_for_topic(topic):
            break
        await asyncio.sleep(poll_ms / 1000)
    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    return tps


async def _deliver(on_record: OnRecord, record: Any, on_invalid: OnInvalid | None) -> None:
    try:
        on_record(record.key, record.value)
    except InvalidRecord as exc:  # a bad record must not stop the view
        log.warning(
            "unreadable record skipped",
            reason=exc.reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        if on_invalid is not None:
            await on_invalid(record, exc.reason)
