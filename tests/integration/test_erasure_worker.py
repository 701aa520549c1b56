"""Erasure in the worker, on the embedded broker: the moderation part writes no label
examples of an erased person's posts, and the in-memory views show them redacted."""

from __future__ import annotations

import pytest

from records import decode
from records.moderation import AuditRecord, Decision, LabelExample
from records.privacy import Erasure
from tests.integration.test_moderation import (
    LEAP_DAY,
    OFFICER,
    moderation_item,
    moderation_only,
    post,
    start,
)
from tests.polling import until
from worker.moderation.decisions import DecisionRequest
from worker.moderation.erasure import ERASED
from worker.moderation.service import submit_decision

pytestmark = pytest.mark.integration

__all__ = ["moderation_only"]  # the autouse fixture: triage and moderation only

ERASED_AUTHOR = "facebook:a1"


async def test_erased_author_is_redacted_in_views_and_gets_no_labels(
    running_worker, produce, read_topic, read_topic_until
):
    """Once triage.erasures names an author, the review, ledger and audit views show their
    earlier post as [erased] with no name or handle; their next post is shown redacted,
    its hide is recorded redacted and writes no label example, while another author's
    hide still does."""
    worker = await start(running_worker)
    topics, ctx = worker.topics, worker.ctx
    views = ctx.views
    first = post("c1", "you idiot")
    await produce(topics.comments, [first], key=lambda c: c.conversation_key)
    item = await moderation_item(worker, first)
    await submit_decision(ctx, OFFICER, DecisionRequest(item_id=item.id, action="hide"))
    await until(lambda: views.ledger.get(ERASED_AUTHOR), "the author's ledger")
    assert views.ledger.get(ERASED_AUTHOR).account_handle == "@h"

    erasure = Erasure(author_key=ERASED_AUTHOR, erased_at=LEAP_DAY, by="admin", reason="REQ-1")
    await produce(topics.erasures, [erasure], key=ERASED_AUTHOR.encode())
    await until(lambda: views.review.get(item.id).comment.text == ERASED, "the item redacted")
    shown = views.review.get(item.id).comment
    assert (shown.author.name, shown.author.handle, shown.url) == (None, None, None)
    ledger = views.ledger.get(ERASED_AUTHOR)
    assert (ledger.account_name, ledger.account_handle) == (None, None)
    assert len(ledger.strikes) == 1  # the policy's record of what was done stays
    (record,) = views.audit.records(author=ERASED_AUTHOR)
    assert (record.text, record.account_handle, record.action) == (ERASED, None, "hide")

    again = post("c2", "idiot again")
    other = post("c3", "idiot too", author="a2")
    await produce(topics.comments, [again, other], key=lambda c: c.conversation_key)
    item2 = await moderation_item(worker, again, enriched=False)
    item3 = await moderation_item(worker, other, enriched=False)
    assert item2.comment.text == ERASED
    assert item3.comment.text == "idiot too"
    for target in (item2, item3):
        await submit_decision(ctx, OFFICER, DecisionRequest(item_id=target.id, action="hide"))

    audits = await read_topic(topics.audit, 3, AuditRecord)
    (hidden,) = [r for r in audits if r.item_id == item2.id]
    assert (hidden.text, hidden.account_name) == (ERASED, None)
    # Both decisions fully handled by the agent (its writes are on the broker).
    decisions = await read_topic_until(topics.decisions, lambda got: len(got) >= 3)
    moderation = views.moderation
    for message in decisions:
        where = (topics.decisions, message.partition)
        await until(lambda w=where, m=message: moderation.read.get(w, 0) > m.offset, "handled")
    labels = await read_topic_until(
        topics.labels,
        lambda got: any(
            decode(r.value, LabelExample).comment_key == other.comment_key for r in got
        ),
    )
    keys = [decode(r.value, LabelExample).comment_key for r in labels]
    assert again.comment_key not in keys
    assert first.comment_key in keys  # written before the erasure: the topic keeps it
    assert {decode(r.value, Decision).item_id for r in decisions} >= {item2.id, item3.id}
