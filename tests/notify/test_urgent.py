"""Urgent posts out of hours: the moderation agent's alert, mailed to the officer on call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from records import Comment, ReviewItem, decode
from records.sla import Alert
from tests.integration.conftest import (
    READY_TIMEOUT_S,
    KeywordClassifier,
    make_comment,
    read_topic_until,
    worker_settings,
)
from tests.notify.conftest import notify_settings
from tests.polling import until
from worker.app import create_app
from worker.context import WorkerContext

pytestmark = pytest.mark.integration

__all__ = ["read_topic_until"]  # the integration fixture, reused here

ON_CALL = "oncall@council.example"
SATURDAY_NIGHT = datetime(2030, 1, 5, 3, 0, tzinfo=UTC)
TUESDAY_MORNING = datetime(2030, 1, 8, 10, 0, tzinfo=UTC)


def post(n: int, at: datetime) -> Comment:
    comment = make_comment(n, "flood in the underpass")
    return comment.model_copy(update={"created_at": at, "received_at": at})


async def test_urgent_post_out_of_hours_is_mailed_to_on_call_once(
    broker, topic_prefix, smtp, produce, read_topic_until, no_digest_policy
):
    """An urgent post that arrives on a Saturday night reaches the on-call address by
    mail, naming the channel and time but not the post or its author; one that arrives
    in working hours does not; the night's post replayed writes no second alert."""
    settings = worker_settings(broker, topic_prefix, policy=no_digest_policy)
    ctx = WorkerContext(settings=settings)
    notify = notify_settings(smtp, None, notify_on_call=ON_CALL)
    app = create_app(settings, ctx=ctx, classifier=KeywordClassifier(), notify=notify)
    await asyncio.wait_for(app.start(), timeout=READY_TIMEOUT_S)
    topics = settings.topics
    try:
        await until(lambda: ctx.ready, "the worker ready", within=READY_TIMEOUT_S)
        night, morning = post(1, SATURDAY_NIGHT), post(2, TUESDAY_MORNING)
        await produce(topics.comments, [night, morning], key=lambda c: c.conversation_key)

        def on_call_mail():
            return [m for m in smtp.inbox.snapshot() if m.rcpt == (ON_CALL,)]

        await until(on_call_mail, "the on-call mail")
        (mail,) = on_call_mail()
        assert mail.alert_id.startswith("urgent-ooh-")
        text = mail.message.get_body(("plain",)).get_content()
        assert "Urgent post out of hours" in text
        assert "Channel: facebook: nherts" in text
        assert "Received: Sat 05 Jan 2030 03:00" in text
        assert "flood in the underpass" not in text
        assert "facebook:a1" not in text

        # A replay of the night's post: triage writes its review item again.
        await produce(topics.comments, [night], key=lambda c: c.conversation_key)
        records = await read_topic_until(
            topics.review, lambda got: sum(_urgent(r, "c1") for r in got) >= 2
        )
        again = [r for r in records if _urgent(r, "c1")][-1]
        moderation = ctx.views.moderation
        await until(
            lambda: moderation.read.get((topics.review, again.partition), 0) > again.offset,
            "the replayed item read by moderation",
        )
        alerts = await read_topic_until(topics.alerts, lambda got: len(got) >= 1)
        urgent = [a for a in (decode(r.value, Alert) for r in alerts) if a.kind.startswith("urg")]
        assert [a.id for a in urgent] == [mail.alert_id]
        assert len(on_call_mail()) == 1
    finally:
        await asyncio.wait_for(app.stop(), timeout=30)
    assert not ctx.fatal.error


def _urgent(record, comment_id: str) -> bool:
    item = decode(record.value, ReviewItem)
    return item.lane == "urgent" and item.comment.id == comment_id
