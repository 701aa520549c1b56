"""Creating topics and reading one whole, for the worker and the connectors alike.

One function creates topics, so that every topic is created the same way (its partitions,
its cleanup and retention, TLS and SASL from :class:`~records.kafka.KafkaConnection`)
whichever part gets there first; one reads what a topic holds now, for the command-line
tools. It imports aiokafka, so ``records/__init__`` does not import it: the classifiers and
the schema tools never load a Kafka client.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from records.kafka import KafkaConnection
from records.topics import TopicSpec

__all__ = ["ensure_topic", "read_topic"]


async def ensure_topic(
    kafka: KafkaConnection,
    topic: TopicSpec | str,
    partitions: int,
    replicas: int = 1,
    *,
    configs: Mapping[str, str] | None = None,
    request_timeout_s: float = 30.0,
) -> None:
    """Create ``topic`` unless it exists, which auto-creation would not do right.

    From a :class:`TopicSpec` it takes the spec's settings, and one partition where the
    spec asks for it; from a bare name, ``configs`` (none: the broker's defaults).
    """
    if isinstance(topic, TopicSpec):
        name, settings = topic.name, topic.configs()
        if topic.single_partition:
            partitions = 1
    else:
        name, settings = topic, dict(configs or {})
    admin = AIOKafkaAdminClient(**kafka.options(), request_timeout_ms=int(request_timeout_s * 1000))
    await admin.start()
    try:
        if name in await admin.list_topics():
            return
        with contextlib.suppress(TopicAlreadyExistsError):
            new = NewTopic(name, partitions, replicas, topic_configs=settings)
            await admin.create_topics([new])
    finally:
        with contextlib.suppress(Exception):  # closing must not hide what happened above
            await admin.close()


async def read_topic(
    kafka: KafkaConnection, topic: str, *, stall_s: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on ``topic`` now, from the start of each partition ([] if no topic).

    It reads at least up to the end offsets it found on starting (with whatever came in
    the same fetches), and raises TimeoutError when no partition has moved on for
    ``stall_s``. The worker's views follow their topics for ever instead
    (worker/follow.py).
    """
    consumer = AIOKafkaConsumer(
        **kafka.options(), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        if topic not in await consumer.topics():
            return out
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        left = {tp for tp in parts if ends[tp] > 0}
        moved = time.monotonic()
        while left:
            batch = await consumer.getmany(*left, timeout_ms=500)
            for messages in batch.values():
                out.extend(messages)
            # By position, not by the last record: compaction may leave the last offsets empty.
            done = {tp for tp in left if await consumer.position(tp) >= ends[tp]}
            if batch or done:
                moved = time.monotonic()
            elif time.monotonic() - moved > stall_s:
                raise TimeoutError(f"{topic}: no progress in {stall_s:.0f}s reading it")
            left -= done
    finally:
        await consumer.stop()
    return out
