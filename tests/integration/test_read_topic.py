"""records.admin.read_topic and the tools built on it, against the embedded broker."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

from records.admin import ensure_topic, read_topic
from records.kafka import KafkaConnection
from worker.cli import cli

pytestmark = pytest.mark.integration


async def test_reads_every_partition_from_the_start(broker, produce, topic_prefix):
    """All records on a three-partition topic come back, in each partition's order."""
    kafka = KafkaConnection(bootstrap=(broker.bootstrap,))
    topic = f"{topic_prefix}whole"
    await ensure_topic(kafka, topic, 3)
    values = [f"v{n}".encode() for n in range(12)]
    for n, value in enumerate(values):
        await produce(topic, [value], key=f"k{n % 5}")
    got = await read_topic(kafka, topic)
    assert sorted(r.value for r in got) == sorted(values)
    for partition in {r.partition for r in got}:
        offsets = [r.offset for r in got if r.partition == partition]
        assert offsets == sorted(offsets)


async def test_a_missing_topic_reads_as_empty(broker, topic_prefix):
    """A topic that does not exist gives no records rather than waiting for it."""
    kafka = KafkaConnection(bootstrap=(broker.bootstrap,))
    assert await read_topic(kafka, f"{topic_prefix}never-made") == []


async def test_emergency_status_reads_the_switches_and_skips_a_bad_one(
    broker, produce, topic_prefix
):
    """`triage emergency status` folds every switch on the topic, past an unreadable record."""
    env = {"TRIAGE_BROKER": broker.url, "TRIAGE_TOPIC_PREFIX": topic_prefix}
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["emergency", *args], env=env)
        return result.exit_code, result.stdout

    code, _ = await asyncio.to_thread(invoke, "on", "--by", "duty", "--reason", "flood")
    assert code == 0
    await produce(f"{topic_prefix}triage.emergency", [b"not json"])
    code, _ = await asyncio.to_thread(invoke, "off", "--by", "duty", "--reason", "dry")
    assert code == 0
    code, out = await asyncio.to_thread(invoke, "status")
    assert code == 0, out
    status = json.loads(out)
    assert status["active"] is False
    assert [(c["active"], c["reason"]) for c in status["history"]] == [
        (True, "flood"),
        (False, "dry"),
    ]
