"""The X connector against a local fake of the X API v2 user timelines."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from connectors import PlatformRefused, XConnector

from .conftest import read_topic, running
from .fakes import FakeTime, FakeX, serve_fake

pytestmark = pytest.mark.integration

COUNCIL = "1500000000000000001"
TOKEN = "x-test-bearer"


def tweet(
    n: int,
    author: str,
    text: str,
    *,
    conversation: int | None = None,
    replied_to: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(1_860_000_000_000_000_000 + n),
        "text": text,
        "author_id": author,
        "created_at": f"2026-11-24T09:{n % 60:02d}:00.000Z",
        "conversation_id": str(1_860_000_000_000_000_000 + (conversation or n)),
        "lang": "en",
        "edit_history_tweet_ids": [str(1_860_000_000_000_000_000 + n)],
    }
    if replied_to is not None:
        body["referenced_tweets"] = [
            {"type": "replied_to", "id": str(1_860_000_000_000_000_000 + replied_to)}
        ]
        body["in_reply_to_user_id"] = COUNCIL
    return body


@pytest.fixture
async def fake_x():
    clock = FakeTime()
    fake = FakeX(TOKEN, clock)
    fake.users = {
        "2001": {"id": "2001", "username": "hitchin_resident", "name": "Resident A"},
        "2002": {"id": "2002", "username": "letchworth_b", "name": "Resident B"},
        COUNCIL: {"id": COUNCIL, "username": "NorthHertsDC", "name": "North Herts Council"},
    }
    runner, url = await serve_fake(fake.app())
    yield fake, clock, url
    await runner.cleanup()


def connector(make_settings, broker, url, clock):
    settings = make_settings(broker, x_api_base=url, x_bearer_token=TOKEN, x_user_id=COUNCIL)
    return XConnector(settings, sleep=clock.sleep, now=clock.now), settings


async def test_mentions_and_council_replies_arrive_in_order_then_resume(
    broker, make_settings, fake_x
):
    """Mentions and the council's replies land in order; a restart resumes from since_id."""
    fake, clock, url = fake_x
    fake.mentions = [
        tweet(1, "2001", "@NorthHertsDC the bins on Bancroft were missed"),
        tweet(2, "2002", "@NorthHertsDC great work on the park"),
    ]
    fake.tweets = [
        tweet(
            3,
            COUNCIL,
            "@hitchin_resident sorry, a crew is on its way",
            conversation=1,
            replied_to=1,
        ),
        tweet(4, COUNCIL, "Our offices close at 5pm today"),
    ]
    first, settings = connector(make_settings, broker, url, clock)
    await first.setup()
    try:
        assert await first.poll_once() == 3
    finally:
        await first.cleanup()

    # New activity while the connector is down, more than one page of it.
    fake.mentions.append(tweet(5, "2001", "@NorthHertsDC thanks!", conversation=1, replied_to=3))
    fake.mentions += [tweet(n, "2002", f"@NorthHertsDC note {n}") for n in range(100, 220)]
    fake.requests.clear()
    second, _ = connector(make_settings, broker, url, clock)
    await second.setup()
    try:
        assert await second.poll_once() == 121
        assert await second.poll_once() == 0
    finally:
        await second.cleanup()

    since = {q.get("since_id") for path, q in fake.requests if path.endswith("/mentions")}
    assert str(1_860_000_000_000_000_002) in since
    assert any("pagination_token" in q for _, q in fake.requests)

    records = await read_topic(broker.bootstrap, settings.topics.comments, expected=124)
    ids = [c.id for _, c, _ in records]
    assert len(ids) == len(set(ids)) == 124
    assert {c.connector for _, c, _ in records} == {"x"}
    thread = [c for key, c, _ in records if key == f"x:{1_860_000_000_000_000_001}"]
    assert [c.text.split()[1] for c in thread] == ["the", "sorry,", "thanks!"]
    council = thread[1]
    assert council.author.is_council
    assert council.kind == "reply"
    assert council.in_reply_to == str(1_860_000_000_000_000_001)
    assert thread[0].author.handle == "hitchin_resident"
    assert thread[0].author.name == "Resident A"
    assert thread[0].kind == "mention"
    assert thread[2].kind == "reply"


async def test_a_backlog_over_the_page_limit_is_read_to_the_end_once(broker, make_settings, fake_x):
    """2,500 new mentions (20 pages is 2,000): the next poll reads the rest, none twice."""
    fake, clock, url = fake_x
    fake.mentions = [tweet(1, "2001", "@NorthHertsDC first")]
    x, settings = connector(make_settings, broker, url, clock)
    await x.setup()
    try:
        assert await x.poll_once() == 1
        first = str(1_860_000_000_000_000_001)
        fake.mentions += [tweet(n, "2002", f"@NorthHertsDC note {n}") for n in range(2, 2502)]
        fake.requests.clear()
        assert await x.poll_once() == 2000  # the newest 2,000, from the top down
        assert x.state.cursor("mentions") == first  # not past the 500 still unread
        oldest_read = str(1_860_000_000_000_000_502)
        assert x.state.cursor("mentions.until") == oldest_read
        fake.mentions.append(tweet(3000, "2001", "@NorthHertsDC while you were reading"))
        fake.requests.clear()
        assert await x.poll_once() == 500  # the bottom of the backlog
        calls = [q for path, q in fake.requests if path.endswith("/mentions")]
        assert all(q["since_id"] == first and q["until_id"] == oldest_read for q in calls)
        newest = str(1_860_000_000_000_002_501)
        assert x.state.cursor("mentions") == newest
        assert x.state.cursor("mentions.until") is None
        assert await x.poll_once() == 1  # what came in meanwhile
        assert await x.poll_once() == 0
    finally:
        await x.cleanup()
    records = await read_topic(broker.bootstrap, settings.topics.comments, expected=2502)
    ids = [c.id for _, c, _ in records]
    assert len(ids) == len(set(ids)) == 2502


async def test_rate_limit_is_waited_out_until_the_reset(broker, make_settings, fake_x):
    """A 429 makes the connector sleep until x-rate-limit-reset, then it carries on."""
    fake, clock, url = fake_x
    fake.mentions = [tweet(1, "2001", "@NorthHertsDC hello")]
    reset = int(clock.now()) + 600
    fake.script.queue = [
        (
            429,
            {
                "x-rate-limit-limit": "450",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(reset),
            },
        )
    ]
    x, _ = connector(make_settings, broker, url, clock)
    await x.setup()
    try:
        assert await x.poll_once() == 1
    finally:
        await x.cleanup()
    assert clock.sleeps == [600]
    assert x.metrics.value("connector_http_retries_total", cause="rate_limited") == 1


async def test_server_errors_are_retried_with_backoff(broker, make_settings, fake_x):
    """Two 503s are retried with growing, jittered waits; then the poll succeeds."""
    fake, clock, url = fake_x
    fake.mentions = [tweet(1, "2001", "@NorthHertsDC hello")]
    fake.script.queue = [(503, {}), (503, {})]
    x, _ = connector(make_settings, broker, url, clock)
    await x.setup()
    try:
        assert await x.poll_once() == 1
    finally:
        await x.cleanup()
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 1.0
    assert 0 <= clock.sleeps[1] <= 2.0
    assert x.metrics.value("connector_http_retries_total", cause="server_error") == 2


async def test_bad_token_is_a_clear_error(broker, make_settings, fake_x):
    """A 401 is not retried: it raises PlatformRefused naming the status."""
    _fake, clock, url = fake_x
    settings = make_settings(broker, x_api_base=url, x_bearer_token="wrong", x_user_id=COUNCIL)
    x = XConnector(settings, sleep=clock.sleep, now=clock.now)
    await x.setup()
    try:
        with pytest.raises(PlatformRefused, match="401"):
            await x.poll_once()
    finally:
        await x.cleanup()
    assert clock.sleeps == []


async def test_run_loop_polls_until_stopped(broker, make_settings, fake_x):
    """Run as a service, the connector polls on its interval and stops cleanly when asked."""
    fake, clock, url = fake_x
    fake.mentions = [tweet(1, "2001", "@NorthHertsDC is the library open?")]
    settings = make_settings(
        broker,
        x_api_base=url,
        x_bearer_token=TOKEN,
        x_user_id=COUNCIL,
        connector_poll_interval_s=0.2,
    )
    x = XConnector(settings, sleep=clock.sleep, now=clock.now)
    async with running(x):
        first = await read_topic(broker.bootstrap, settings.topics.comments, expected=1, linger=0.1)
        fake.mentions.append(tweet(2, "2002", "@NorthHertsDC and on Sundays?"))
        both = await read_topic(broker.bootstrap, settings.topics.comments, expected=2, linger=0.5)
    assert [c.id[-1] for _, c, _ in first] == ["1"]
    assert sorted(c.id[-1] for _, c, _ in both) == ["1", "2"]
    assert x.state.cursor("mentions") == str(1_860_000_000_000_000_002)


async def test_health_and_metrics_report_a_failing_platform(broker, make_settings, fake_x):
    """With --port, a poller serves /health (503 once the platform keeps failing) and /metrics."""
    fake, clock, url = fake_x
    fake.script.queue = [(502, {})] * 3
    settings = make_settings(
        broker,
        x_api_base=url,
        x_bearer_token=TOKEN,
        x_user_id=COUNCIL,
        connector_max_retries=2,
        connector_poll_interval_s=600,
    )
    x = XConnector(settings, sleep=clock.sleep, now=clock.now, port=0)
    async with running(x), httpx.AsyncClient(base_url=x.url) as http:
        for _ in range(100):
            health = await http.get("/health")
            if health.status_code == 503:
                break
            await asyncio.sleep(0.1)
        metrics = (await http.get("/metrics")).text
    assert health.status_code == 503
    assert health.json()["connector"] == "x"
    assert 'connector_http_retries_total{cause="server_error",connector="x"} 3.0' in metrics
