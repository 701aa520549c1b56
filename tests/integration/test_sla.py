"""Reply tracking on the embedded broker, with a clock the test moves."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from records import Comment, ReviewItem
from records.sla import Alert, Case
from tests.polling import until
from worker.clock import ManualClock

pytestmark = pytest.mark.integration

LONDON = ZoneInfo("Europe/London")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def post(cid: str, text: str, when: str, *, council: bool = False, thread: str = "t1") -> Comment:
    return Comment.model_validate(
        {
            "schema": 1,
            "id": cid,
            "platform": "facebook",
            "channel": "nherts",
            "kind": "reply" if council else "comment",
            "thread_id": thread,
            "author": {"id": "council" if council else "resident-1", "is_council": council},
            "text": text,
            "created_at": at(when),
            "received_at": at(when),
        }
    )


async def scans_pass(worker, n: int = 3) -> None:
    """Wait until the SLA timer has run ``n`` more times."""
    keeper = worker.ctx.views.sla_keeper
    target = keeper.scans + n
    await until(lambda: keeper.scans >= target, f"{n} timer scans")


async def test_query_then_council_reply_closes_with_working_hours(
    running_worker, produce, read_topic
):
    """A pothole report opens a case due next working day; the reply closes it at 3.5 h."""
    clock = ManualClock(at("2026-11-27T16:00"))
    worker = await running_worker(clock=clock)
    send = lambda c: c.conversation_key  # noqa: E731
    await produce(
        worker.topics.comments,
        [post("q1", "There is a pothole outside number 4", "2026-11-27T16:00")],
        key=send,
    )

    [opened] = await read_topic(worker.topics.cases, 1, Case)
    assert opened.status == "open"
    assert opened.due_at == at("2026-11-30T16:00")
    items = await read_topic(worker.topics.review, 2, ReviewItem)
    assert any(i.id == opened.item_id and i.due_at == opened.due_at for i in items)

    clock.set(at("2026-11-30T11:30"))
    await produce(
        worker.topics.comments,
        [post("r1", "Thanks, we've reported it", "2026-11-30T11:30", council=True)],
        key=send,
    )
    cases = await read_topic(worker.topics.cases, 2, Case)
    closed = cases[-1]
    assert (closed.id, closed.status, closed.closed_by) == (opened.id, "closed", "council_reply")
    assert closed.response_hours == 3.5
    view = worker.ctx.views.sla
    assert await until(
        lambda: view.get(opened.id) and view.get(opened.id).status == "closed",
        "the view to see the closed case",
    )


async def test_unanswered_query_warns_then_breaches_once(running_worker, produce, read_topic):
    """With no reply, one at-risk alert and then one breach alert are sent, no more."""
    clock = ManualClock(at("2026-11-23T10:00"))
    worker = await running_worker(clock=clock)
    await produce(
        worker.topics.comments,
        [post("q1", "pothole on Station Road", "2026-11-23T10:00")],
        key=lambda c: c.conversation_key,
    )
    [case] = await read_topic(worker.topics.cases, 1, Case)
    assert case.due_at == at("2026-11-24T10:00")

    clock.set(at("2026-11-23T16:00"))
    [risk] = await read_topic(worker.topics.alerts, 1, Alert)
    assert (risk.kind, risk.id) == ("sla_at_risk", f"{case.id}:sla_at_risk")

    clock.set(at("2026-11-24T10:00"))
    alerts = await read_topic(worker.topics.alerts, 2, Alert)
    assert [a.kind for a in alerts] == ["sla_at_risk", "sla_breach"]

    await scans_pass(worker, 4)
    again = await read_topic(worker.topics.alerts, 2, Alert, within=5)
    assert len(again) == 2
    cases = await read_topic(worker.topics.cases, 3, Case)
    assert cases[-1].breach_alerted
    assert cases[-1].at_risk_alerted


async def test_restart_between_alerts_sends_no_duplicate(running_worker, produce, read_topic):
    """A worker restarted after the at-risk alert sends only the breach alert."""
    clock = ManualClock(at("2026-11-23T10:00"))
    first = await running_worker(clock=clock)
    await produce(
        first.topics.comments,
        [post("q1", "pothole near the school", "2026-11-23T10:00")],
        key=lambda c: c.conversation_key,
    )
    [case] = await read_topic(first.topics.cases, 1, Case)
    clock.set(at("2026-11-23T16:30"))
    await read_topic(first.topics.alerts, 1, Alert)
    # Let the table's changelog catch up with the alert flag before stopping.
    await read_topic(first.topics.cases, 2, Case)
    await first.app.stop()

    second = await running_worker(clock=clock)
    await scans_pass(second, 3)
    clock.set(at("2026-11-24T10:00"))
    alerts = await read_topic(second.topics.alerts, 2, Alert)
    await scans_pass(second, 4)
    alerts = await read_topic(second.topics.alerts, 2, Alert, within=5)
    assert sorted(a.kind for a in alerts) == ["sla_at_risk", "sla_breach"]
    assert {a.id for a in alerts} == {f"{case.id}:sla_at_risk", f"{case.id}:sla_breach"}
