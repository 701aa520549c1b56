"""The worker's part of assignment and notes (`triage run`): it makes triage.handling at
start and writes the officers' app's records there through its own producer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from records.handling import HandlingRecord

pytestmark = pytest.mark.integration


async def test_the_worker_makes_the_handling_topic_and_writes_to_it(
    running_worker, broker, read_topic
):
    """A started worker has created triage.handling, and its sink writes a record there
    keyed by the item, which reads back the same."""
    worker = await running_worker()
    topic = worker.settings.topics.handling
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        assert topic in await admin.list_topics()
    finally:
        await admin.close()
    record = HandlingRecord(
        id="h-1",
        kind="assign",
        item_id="rv-1",
        lane="urgent",
        by="maya",
        at=datetime(2030, 1, 8, 10, 0, tzinfo=UTC),
        assignee="olivia",
        author_key="facebook:a1",
    )
    sink = worker.ctx.views.handling_sink
    assert sink is not None
    await sink(record)
    (message,) = await read_topic(topic, 1)
    assert message.key == b"rv-1"
    (read,) = await read_topic(topic, 1, HandlingRecord)
    assert read == record
