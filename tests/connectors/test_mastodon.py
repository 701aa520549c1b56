"""The Mastodon connector against a local fake of Mastodon's REST API."""

from __future__ import annotations

from typing import Any

import pytest

from connectors import MastodonConnector

from .conftest import read_topic
from .fakes import FakeMastodon, FakeTime, serve_fake

pytestmark = pytest.mark.integration

COUNCIL = "109000000000000001"
TOKEN = "mastodon-test-token"


def account(acct_id: str, acct: str, name: str) -> dict[str, Any]:
    return {
        "id": acct_id,
        "username": acct.split("@", maxsplit=1)[0],
        "acct": acct,
        "display_name": name,
        "url": f"https://example.social/@{acct}",
        "bot": False,
    }


RESIDENT = account("2001", "hitchin@example.social", "Resident A")
COUNCIL_ACCOUNT = account(COUNCIL, "northherts", "North Herts Council")


def status(
    n: int,
    who: dict[str, Any],
    html: str,
    *,
    reply_to: int | None = None,
    visibility: str = "public",
) -> dict[str, Any]:
    return {
        "id": str(111_000_000_000_000_000 + n),
        "created_at": f"2026-11-24T09:{n % 60:02d}:00.000Z",
        "in_reply_to_id": str(111_000_000_000_000_000 + reply_to) if reply_to else None,
        "in_reply_to_account_id": COUNCIL if reply_to and who is RESIDENT else None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": visibility,
        "language": "en",
        "uri": f"https://example.social/users/x/statuses/{n}",
        "url": f"https://example.social/@x/{n}",
        "content": html,
        "account": who,
        "media_attachments": [],
        "mentions": [],
        "tags": [],
    }


def mention(n: int, st: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(500 + n),
        "type": "mention",
        "created_at": st["created_at"],
        "account": st["account"],
        "status": st,
    }


@pytest.fixture
async def fake_mastodon():
    fake = FakeMastodon(TOKEN, COUNCIL)
    runner, url = await serve_fake(fake.app())
    yield fake, url
    await runner.cleanup()


def connector(make_settings, broker, url, clock):
    settings = make_settings(
        broker, mastodon_base_url=url, mastodon_token=TOKEN, mastodon_account_id=COUNCIL
    )
    return MastodonConnector(settings, sleep=clock.sleep, now=clock.now), settings


async def test_mentions_dms_and_replies_share_threads_and_resume(
    broker, make_settings, fake_mastodon
):
    """Mentions, a DM and the council's reply land once, threaded; a restart adds only new ones."""
    fake, url = fake_mastodon
    clock = FakeTime()
    question = status(1, RESIDENT, "<p>@northherts when is the <b>tip</b> open?</p>")
    private = status(2, RESIDENT, "<p>my address is private</p>", visibility="direct")
    fake.notifications = [
        mention(1, question),
        mention(2, private),
        {"id": "503", "type": "favourite", "account": RESIDENT},
    ]
    fake.statuses = [
        status(3, COUNCIL_ACCOUNT, "<p>@hitchin 8am to 4pm<br>daily</p>", reply_to=1),
        status(4, COUNCIL_ACCOUNT, "<p>Council tax reminder</p>"),
    ]
    first, settings = connector(make_settings, broker, url, clock)
    await first.setup()
    try:
        assert await first.poll_once() == 3
    finally:
        await first.cleanup()

    follow_up = status(5, RESIDENT, "<p>thank you</p>", reply_to=3)
    fake.notifications.append(mention(5, follow_up))
    fake.requests.clear()
    second, _ = connector(make_settings, broker, url, clock)
    await second.setup()
    try:
        assert await second.poll_once() == 1
        assert await second.poll_once() == 0
    finally:
        await second.cleanup()
    min_ids = {q.get("min_id") for path, q in fake.requests if path == "/api/v1/notifications"}
    assert "502" in min_ids
    assert None not in min_ids

    records = await read_topic(broker.bootstrap, settings.topics.comments, expected=4)
    assert len(records) == 4
    assert {c.connector for _, c, _ in records} == {"mastodon"}
    by_id = {c.id[-1]: (key, c) for key, c, _ in records}
    thread_key = f"mastodon:{111_000_000_000_000_001}"
    assert [by_id[n][0] for n in "135"] == [thread_key] * 3
    assert by_id["1"][1].text == "@northherts when is the tip open?"
    assert by_id["3"][1].text == "@hitchin 8am to 4pm\ndaily"
    assert by_id["3"][1].author.is_council
    assert by_id["3"][1].kind == "reply"
    assert by_id["2"][1].kind == "direct_message"
    assert by_id["1"][1].author.handle == "hitchin@example.social"
    thread = [c.id[-1] for key, c, _ in records if key == thread_key]
    assert thread == ["1", "3", "5"]


async def test_rate_limit_reset_header_is_honoured(broker, make_settings, fake_mastodon):
    """A 429 with Mastodon's ISO X-RateLimit-Reset is waited out, then polling carries on."""
    fake, url = fake_mastodon
    clock = FakeTime(start=1_795_000_000.0)
    fake.notifications = [mention(1, status(1, RESIDENT, "<p>hello</p>"))]
    fake.script.queue = [
        (
            429,
            {
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "2026-11-18T11:11:40.000Z",
            },
        )
    ]
    m, _ = connector(make_settings, broker, url, clock)
    await m.setup()
    try:
        assert await m.poll_once() == 1
    finally:
        await m.cleanup()
    assert clock.sleeps == [pytest.approx(300.0)]
