"""The signed generic webhook: web chat, forms and integration platforms."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors import GenericWebhookConnector
from connectors.generic import sign

from .conftest import WEBHOOK_SECRET, read_topic, running

pytestmark = pytest.mark.integration


def signed(
    payload: Any, *, at: float | None = None, secret: str = WEBHOOK_SECRET
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    stamp = int(time.time() if at is None else at)
    return body, {
        "X-Triage-Timestamp": str(stamp),
        "X-Triage-Signature": sign(secret.encode(), stamp, body),
        "Content-Type": "application/json",
    }


def iso(seconds_from_now: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat()


def chat(n: int, thread: str = "chat-1", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"msg-{n}",
        "platform": "webchat",
        "channel": "website",
        "kind": "direct_message",
        "thread_id": thread,
        "author": {"id": "visitor-9", "name": "Visitor"},
        "text": f"message {n}",
        "created_at": iso(-60),
        **extra,
    }


async def test_signed_comments_arrive_once_in_order(broker, make_settings):
    """A signed batch and a replayed single message land once each, in order, filled in."""
    settings = make_settings(broker)
    async with running(GenericWebhookConnector(settings)) as hook, httpx.AsyncClient() as http:
        url = f"{hook.url}/webhooks/generic"
        body, headers = signed([chat(1), chat(2), chat(3)])
        first = await http.post(url, content=body, headers=headers)
        body, headers = signed(chat(2))
        repeat = await http.post(url, content=body, headers=headers)
        body, headers = signed({"id": "form-1", "author": {"id": "f"}, "text": "Missed bin"})
        minimal = await http.post(url, content=body, headers=headers)
        assert [first.json(), repeat.json(), minimal.json()] == [
            {"accepted": 3},
            {"accepted": 0},
            {"accepted": 1},
        ]
        assert await hook.sink.flush(30)
    records = await read_topic(broker.bootstrap, settings.topics.comments, expected=4)
    chats = [c for key, c, _ in records if key == "webhook:chat-1"]
    assert [c.id for c in chats] == ["msg-1", "msg-2", "msg-3"]
    form = next(c for _, c, _ in records if c.id == "form-1")
    assert (form.platform, form.channel, form.kind, form.thread_id) == (
        "webhook",
        "web",
        "comment",
        "form-1",
    )
    assert form.received_at is not None
    assert form.schema_version == 1
    assert {c.connector for _, c, _ in records} == {"webhook"}


async def test_forged_stale_and_malformed_requests_are_refused(broker, make_settings):
    """Wrong secret or no signature -> 403; older than the window -> 403; bad body -> 400."""
    async with (
        running(GenericWebhookConnector(make_settings(broker))) as hook,
        httpx.AsyncClient() as http,
    ):
        url = f"{hook.url}/webhooks/generic"
        body, forged = signed(chat(1), secret="not-the-secret")
        stale_body, stale = signed(chat(1), at=time.time() - 301)
        assert (await http.post(url, content=body, headers=forged)).status_code == 403
        assert (await http.post(url, content=body)).status_code == 403
        assert (await http.post(url, content=stale_body, headers=stale)).status_code == 403
        bad: Any
        for bad in (
            {"id": "x"},
            chat(1, surprise=True),
            [],
            {"id": "y", "author": {"id": "a"}, "text": "t", "created_at": "noon"},
        ):
            body, headers = signed(bad)
            response = await http.post(url, content=body, headers=headers)
            assert response.status_code == 400
            assert "message" not in response.text  # values are never echoed, only field names
        metrics = hook.metrics
        assert metrics.value("connector_rejected_total", reason="signature") == 2
        assert metrics.value("connector_rejected_total", reason="stale") == 1
        assert metrics.value("connector_rejected_total", reason="malformed") == 4
        assert hook.sink.size == 0


async def test_sender_cannot_choose_platform_or_speak_for_the_council(broker, make_settings):
    """platform and is_council from the body are overridden; the platform takes the name."""
    settings = make_settings(broker, webhook_name="forms")
    async with running(GenericWebhookConnector(settings)) as hook, httpx.AsyncClient() as http:
        body, headers = signed(
            chat(1, platform="facebook", author={"id": "101010", "is_council": True})
        )
        answer = await http.post(f"{hook.url}/webhooks/generic", content=body, headers=headers)
        assert answer.json() == {"accepted": 1}
        assert await hook.sink.flush(30)
    [(key, comment, _)] = await read_topic(broker.bootstrap, settings.topics.comments, 1)
    assert key == "webhook.forms:chat-1"
    assert (comment.platform, comment.author.id, comment.author.is_council) == (
        "webhook.forms",
        "101010",
        False,
    )
    assert comment.author_key == "webhook.forms:101010"


async def test_created_at_far_from_now_is_refused(broker, make_settings):
    """A created_at beyond the signing window ahead, or older than the limit, gets 400."""
    settings = make_settings(broker, webhook_max_created_age_s=3600)
    async with running(GenericWebhookConnector(settings)) as hook, httpx.AsyncClient() as http:
        url = f"{hook.url}/webhooks/generic"
        answers = {}
        for name, offset in (("ahead", 301), ("old", -3601), ("recent", -3500), ("soon", 200)):
            body, headers = signed(chat(1, id=f"msg-{name}", created_at=iso(offset)))
            answers[name] = await http.post(url, content=body, headers=headers)
        assert await hook.sink.flush(30)
    assert answers["ahead"].status_code == 400
    assert answers["ahead"].json() == {
        "error": "comment 0: created_at: more than 300 s ahead of the connector's clock"
    }
    assert answers["old"].status_code == 400
    assert answers["old"].json() == {"error": "comment 0: created_at: more than 3600 s in the past"}
    assert [answers[n].json() for n in ("recent", "soon")] == [{"accepted": 1}] * 2
    assert hook.metrics.value("connector_rejected_total", reason="malformed") == 2


async def test_a_spool_that_cannot_be_written_answers_503(broker, make_settings, monkeypatch):
    """When the disk refuses the spool write, nothing is answered 200 and nothing is buffered."""
    async with (
        running(GenericWebhookConnector(make_settings(broker))) as hook,
        httpx.AsyncClient() as http,
    ):
        spool = hook.sink.spool
        assert spool is not None

        def full_disk(_items: Any) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(spool, "append", full_disk)
        body, headers = signed(chat(1))
        answer = await http.post(f"{hook.url}/webhooks/generic", content=body, headers=headers)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "30"
        assert hook.sink.size == 0
        assert hook.metrics.value("connector_rejected_total", reason="spool_error") == 1
