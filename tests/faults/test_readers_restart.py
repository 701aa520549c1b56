"""The app's readers restarted: the views the officers' app shows (review queue, audit
trail and authors, reply cases, emergency history) come back whole, with no duplicates."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from records.ids import review_item_id
from records.moderation import Decision
from records.sla import EmergencyChange
from tests.faults.conftest import (
    Figures,
    bootstrap_of,
    new_prefix,
    report,
    send,
    start_worker,
    stop_worker,
)
from tests.integration.conftest import KeywordClassifier, make_comment
from tests.polling import until
from worker.triage import lanes_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEXTS = ("pothole on the high street", "you idiot", "thanks", "flood near the school")
NOW = datetime.now(UTC)


def snapshot(worker: Any) -> dict[str, Any]:
    """What the officers' app reads, by id."""
    views = worker.ctx.views
    return {
        "review": sorted((i.id, i.status) for i in views.review.items(status=None)),
        "audit": sorted(r.id for r in views.audit.records()),
        "authors": sorted(a.author_key for a in views.ledger.authors()),
        "cases": sorted(c.id for c in views.sla.cases()),
        "emergency": sorted(c.id for c in views.sla.emergency.changes),
    }


async def settled(worker: Any) -> dict[str, Any] | None:
    """The snapshot once it has reply cases and stays the same for a second."""
    first = snapshot(worker)
    await asyncio.sleep(1.0)
    return first if first["cases"] and snapshot(worker) == first else None


async def test_readers_restarted_rebuild_every_view(broker):
    """The moderation reader restarted in place, and then the whole worker restarted,
    give back the same items, audit records, authors, cases and switches, once each."""
    prefix = new_prefix()
    worker = await start_worker(broker, prefix)
    bootstrap = bootstrap_of(worker)
    comments = [make_comment(i, TEXTS[i % len(TEXTS)], thread=f"r{i % 7}") for i in range(40)]
    classify = KeywordClassifier._one
    items = {
        review_item_id(c, lane) for c in comments for lane in lanes_of(classify(c.text.lower()))
    }
    moderated = [c for c in comments if "idiot" in c.text][:5]
    decisions = [
        Decision(
            id=f"d-restart-{c.id}",
            item_id=review_item_id(c, "moderation"),
            lane="moderation",
            action="hide",
            by="officer",
            role="officer",
            decided_at=NOW,
        )
        for c in moderated
    ]
    switch = EmergencyChange(id="e-restart", active=False, by="ops", reason="drill", at=NOW)
    try:
        for c in comments[:20]:
            await send(bootstrap, worker.topics.comments, [c], c.conversation_key.encode())
        for d in decisions:
            await send(bootstrap, worker.topics.decisions, [d], d.item_id.encode())
        await send(bootstrap, worker.topics.emergency, [switch], switch.id.encode())
        review = worker.ctx.views.review
        audit = worker.ctx.views.audit

        first = {
            review_item_id(c, lane)
            for c in comments[:20]
            for lane in lanes_of(classify(c.text.lower()))
        }

        def first_half_in() -> bool:
            have = {i.id for i in review.items(status=None)}
            return first <= have and all(audit.has(d.id) for d in decisions)

        await until(first_half_in, "the first comments and decisions in the views")

        # 1. The moderation view's reader stops; comments keep coming; it starts again.
        reader = worker.ctx.views.moderation_reader
        await reader.stop()
        for c in comments[20:]:
            await send(bootstrap, worker.topics.comments, [c], c.conversation_key.encode())
        started = time.monotonic()
        await reader.start()
        await until(
            lambda: {i.id for i in review.items(status=None)} >= items,
            "every item after the restart",
        )
        reader_recover_s = time.monotonic() - started
        assert worker.ctx.fatal.error is None
        listed = [i.id for i in review.items(status=None)]
        before = await until(lambda: settled(worker), "reply cases, and no more arriving")
    finally:
        await stop_worker(worker)

    report(
        Figures(
            "moderation view reader restarted while comments arrive",
            len(items),
            len(set(listed) & items),
            len(listed) - len(set(listed)),
            reader_recover_s,
            "items in the review queue; recovery from the reader's start to the last item",
        )
    )

    # 2. The whole worker again: every reader reads its topics from the start.
    started = time.monotonic()
    again = await start_worker(broker, prefix)
    try:
        await until(lambda: snapshot(again) == before, "the views as they were", within=120)
        worker_recover_s = time.monotonic() - started
        after = snapshot(again)
        listed = [i.id for i in again.ctx.views.review.items(status=None)]
    finally:
        await stop_worker(again)
    assert after["audit"] == sorted(d.id for d in decisions)
    assert after["emergency"] == [switch.id]
    report(
        Figures(
            "worker restarted: every view rebuilt by its reader",
            sum(len(v) for v in before.values()),
            sum(len(v) for v in after.values()),
            len(listed) - len(set(listed)),
            worker_recover_s,
            f"{len(before['review'])} items, {len(before['audit'])} audit records, "
            f"{len(before['authors'])} authors, {len(before['cases'])} cases, "
            f"{len(before['emergency'])} switch; recovery from start to views equal",
        )
    )
