"""Kafka unreachable for a while: what was accepted is kept, and written once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors import MetaConnector
from worker.broker import EmbeddedBroker

from .conftest import PAGE_ID, feed_comment, page_delivery, read_topic, running, signed_meta

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, so that pausing it freezes nobody else's tests."""
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.resume()
        broker.stop()


async def test_paused_broker_loses_nothing_accepted(own_broker, make_settings):
    """With the broker frozen, events are buffered (200) up to the bound, then 503; all land."""
    settings = make_settings(own_broker, connector_buffer=5, connector_request_timeout_s=120)
    post = f"{PAGE_ID}_5"

    def delivery(n: int) -> tuple[bytes, dict[str, str]]:
        return signed_meta(
            page_delivery(
                feed_comment(f"5_{n}", post, f"90{n}", f"Resident {n}", f"Comment number {n}")
            )
        )

    async with running(MetaConnector(settings)) as meta, httpx.AsyncClient(timeout=30) as http:
        url = f"{meta.url}/webhooks/meta"
        body, headers = delivery(0)
        assert (await http.post(url, content=body, headers=headers)).status_code == 200
        assert await meta.sink.flush(60), "the first comment never reached the broker"

        own_broker.pause()
        try:
            statuses = []
            for n in range(1, 8):
                body, headers = delivery(n)
                statuses.append((await http.post(url, content=body, headers=headers)).status_code)
            await asyncio.sleep(2.0)  # the outage itself: the broker stays frozen a while
            health = await http.get(f"{meta.url}/health")
        finally:
            own_broker.resume()
        assert statuses == [200] * 5 + [503] * 2
        assert health.status_code == 503
        assert meta.metrics.value("connector_rejected_total", reason="buffer_full") == 2

        assert await meta.sink.flush(120), "buffered comments were not written after resume"
        # Meta retries what got 503: now it is taken.
        for n in (6, 7):
            body, headers = delivery(n)
            assert (await http.post(url, content=body, headers=headers)).status_code == 200
        assert await meta.sink.flush(60)

    records = await read_topic(own_broker.bootstrap, settings.topics.comments, expected=8)
    assert sorted(c.id for _, c, _ in records) == [f"5_{n}" for n in range(8)]
