"""Kafka unreachable for a while: what was accepted is kept, and written once it is back;
a poller's cursor stays where it was until Kafka confirms."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors import ConnectorState, MetaConnector, XConnector
from worker.broker import EmbeddedBroker

from .conftest import PAGE_ID, feed_comment, page_delivery, read_topic, running, signed_meta
from .fakes import FakeTime, FakeX, serve_fake

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


async def test_a_poller_keeps_its_cursor_until_kafka_confirms(own_broker, make_settings):
    """With the broker frozen a poll never moves the cursor; after it, the same posts go."""
    clock = FakeTime()
    fake = FakeX("x-token", clock)
    council = "1500000000000000001"
    fake.users = {"2001": {"id": "2001", "username": "resident", "name": "Resident"}}
    fake.mentions = [
        {
            "id": str(1_860_000_000_000_000_000 + n),
            "text": f"@NorthHertsDC bins {n}",
            "author_id": "2001",
            "created_at": "2026-11-24T09:00:00.000Z",
            "conversation_id": str(1_860_000_000_000_000_000 + n),
        }
        for n in (1, 2, 3)
    ]
    runner, url = await serve_fake(fake.app())
    settings = make_settings(
        own_broker,
        x_api_base=url,
        x_bearer_token="x-token",
        x_user_id=council,
        connector_request_timeout_s=120,
    )
    try:
        first = XConnector(settings, sleep=clock.sleep, now=clock.now)
        await first.setup()
        assert await first.sink.flush(60)  # connected before the outage
        own_broker.pause()
        try:
            poll = asyncio.ensure_future(first.poll_once())
            await asyncio.sleep(3.0)  # fetched and buffered; Kafka cannot confirm
            assert not poll.done()
            assert first.state.cursor("mentions") is None
            await first.stop()
            assert await asyncio.wait_for(poll, 30) == 0
        finally:
            own_broker.resume()
        await first.cleanup()
        saved = ConnectorState.load(first.state_path)
        assert saved.cursor("mentions") is None, "the cursor moved past unconfirmed posts"

        second = XConnector(settings, sleep=clock.sleep, now=clock.now)
        await second.setup()
        try:
            await second.poll_once()
            assert second.state.cursor("mentions") == str(1_860_000_000_000_000_003)
        finally:
            await second.cleanup()
    finally:
        await runner.cleanup()
    records = await read_topic(own_broker.bootstrap, settings.topics.comments, expected=3)
    assert sorted({c.id for _, c, _ in records}) == [
        str(1_860_000_000_000_000_000 + n) for n in (1, 2, 3)
    ]
