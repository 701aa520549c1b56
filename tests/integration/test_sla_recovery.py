"""Reading one partition of the SLA state on assignment: all of it, and nothing else."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from records import Topics
from records.admin import ensure_topic
from records.kafka import KafkaConnection
from records.retention import RetentionPolicy
from records.sla_state import Conversation, SlaState
from worker.sla.store import PartitionStore, recover_partition

pytestmark = pytest.mark.integration


def state(key: str, seq: int, partition: int) -> bytes:
    value = SlaState(seq=seq, partition=partition, conversation=Conversation(key=key))
    return value.model_dump_json().encode()


async def test_recovery_reads_its_partition_to_the_end_and_keeps_the_newest(broker, topic_prefix):
    """Every state on the partition is read, the highest seq per key kept, the other
    partition left alone, and the partition marked ready only by its owner."""
    topics = Topics(topic_prefix)
    topic = topics.sla_state
    kafka = KafkaConnection((broker.bootstrap,))
    await ensure_topic(kafka, topics.specs(RetentionPolicy())[topic], 2)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        sends = []
        for seq in range(1, 201):
            key = f"facebook:t{seq % 7}"
            sends.append(
                await producer.send(topic, state(key, seq, 0), key=key.encode(), partition=0)
            )
        sends.append(
            await producer.send(
                topic, state("facebook:other", 1, 1), key=b"facebook:other", partition=1
            )
        )
        await asyncio.gather(*sends)
    finally:
        await producer.stop()

    store = PartitionStore()
    read = await recover_partition(kafka, topic, 0, store)
    assert read == 200
    assert not store.is_ready(0)  # the keeper says when its partition may be used
    kept = dict(store.items(0))
    assert set(kept) == {f"facebook:t{i}" for i in range(7)}
    assert kept["facebook:t0"].seq == 196
    assert kept["facebook:t4"].seq == 200
    assert store.get(1, "facebook:other") is None
    assert store.get(0, "facebook:other") is None

    assert await recover_partition(kafka, topic, 1, store) == 1
    assert store.get(1, "facebook:other") is not None
