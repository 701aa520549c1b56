"""Cases as a pure function of what happened in a conversation.

Each conversation keeps the set of its events (queries, residents' comments, the
council's replies, officers' decisions), deduplicated by id. Its cases are recomputed
by folding those events in time order, so a duplicate, a replay or an event read out of
order gives the same cases as a clean, ordered run. Alerts already sent are remembered
by their deterministic ids, which survive restarts in the conversation's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Literal

from records import Comment, TriageResult
from records.ids import case_id, review_item_id, sla_alert_id
from records.moderation import REPLY_ACTIONS, Decision
from records.sla import Alert, Case, asks_for_reply
from records.sla_state import CaseEvent, Conversation
from worker.sla.emergency import EmergencyState
from worker.sla.policy import SlaPolicy
from worker.sla.worktime import ClockStopped, WorkCalendar


def response_item_id(comment: Comment) -> str:
    """The response-lane review item id triage gives this comment."""
    return review_item_id(comment, "response")


def event_from_result(result: TriageResult) -> CaseEvent:
    comment = result.comment
    common = {
        "id": f"comment:{comment.comment_key}",
        "at": comment.created_at,
        "author_key": comment.author_key,
        "platform": comment.platform,
        "channel": comment.channel,
    }
    if comment.author.is_council:
        return CaseEvent(kind="council_reply", **common)
    asks = asks_for_reply(comment, result.verdict)
    return CaseEvent(
        kind="query" if asks else "resident", item_id=response_item_id(comment), **common
    )


def event_from_decision(decision: Decision) -> CaseEvent | None:
    """The decision as a case event, or None when it does not end a wait for a reply."""
    if decision.action not in REPLY_ACTIONS:
        return None
    return CaseEvent(
        id=f"decision:{decision.id}",
        kind="decision",
        at=decision.decided_at,
        item_id=decision.item_id,
        action=decision.action,
        by=decision.by,
    )


@dataclass(frozen=True)
class Rules:
    """The policy and the emergency history that every case computation depends on."""

    policy: SlaPolicy = field(default_factory=SlaPolicy)
    emergency: EmergencyState = field(default_factory=EmergencyState)

    @cached_property
    def office(self) -> WorkCalendar:
        return WorkCalendar(self.policy.working_time)

    @cached_property
    def clock(self) -> WorkCalendar:
        """Office hours, less the emergency periods when the policy pauses the clock."""
        if self.policy.replies.emergency_clock == "pause" and self.emergency.periods:
            return self.office.with_closed(self.emergency.periods)
        return self.office

    @property
    def target_hours(self) -> float:
        return self.policy.working_time.reply_target_hours

    @property
    def at_risk_hours(self) -> float:
        return self.policy.working_time.at_risk_hours

    def due(self, received: datetime) -> datetime | None:
        try:
            return self.clock.add(received, self.target_hours)
        except ClockStopped:
            return None

    def at_risk_from(self, received: datetime) -> datetime | None:
        try:
            return self.clock.add(received, max(0.0, self.target_hours - self.at_risk_hours))
        except ClockStopped:
            return None

    def suggestion(self, received: datetime) -> tuple[bool, bool, str | None]:
        """(out of hours, in an emergency, suggested acknowledgement) for a query."""
        out_of_hours = not self.office.is_open(received)
        emergency = self.emergency.active_at(received)
        if emergency:
            return out_of_hours, True, self.policy.replies.emergency
        if out_of_hours:
            return out_of_hours, False, self.policy.replies.out_of_hours
        return out_of_hours, False, None


_RANK = {"query": 0, "resident": 0, "council_reply": 1, "decision": 1}


def _ordered(events: Iterable[CaseEvent]) -> list[tuple[datetime, CaseEvent]]:
    # A decision cannot precede the comment it is about, whatever the clocks said.
    comment_time = {e.item_id: e.at for e in events if e.item_id and e.kind != "decision"}
    timed = []
    for event in events:
        at = event.at
        if event.kind == "decision" and event.item_id in comment_time:
            at = max(at, comment_time[event.item_id])
        timed.append((at, event))
    timed.sort(key=lambda pair: (pair[0], _RANK[pair[1].kind], pair[1].id))
    return timed


def cases_of(conversation: Conversation, rules: Rules) -> list[Case]:
    """Every case of the conversation, oldest first."""
    built: list[Case] = []
    current: Case | None = None
    earlier_items: set[str] = set()
    current_items: set[str] = set()
    for at, event in _ordered(conversation.events):
        if event.kind in ("query", "resident"):
            if current is not None:
                if event.item_id:
                    current_items.add(event.item_id)
                continue
            if _opens(event, built[-1] if built else None):
                current = _open(conversation.key, event, at, len(built) + 1, rules)
                earlier_items |= current_items
                current_items = {event.item_id} if event.item_id else set()
            elif event.item_id:
                earlier_items.add(event.item_id)
            continue
        if current is None:
            continue
        if event.kind == "decision" and event.item_id in earlier_items:
            continue  # about an earlier, already answered comment
        built.append(_close(current, event, at, rules))
        earlier_items |= current_items
        current_items = set()
        current = None
    if current is not None:
        built.append(current)
    sent = set(conversation.alerts_sent)
    return [
        case.model_copy(
            update={
                "at_risk_alerted": sla_alert_id(case.id, "sla_at_risk") in sent,
                "breach_alerted": sla_alert_id(case.id, "sla_breach") in sent,
            }
        )
        for case in built
    ]


def _opens(event: CaseEvent, previous: Case | None) -> bool:
    if event.kind == "query":
        return True
    # A resident's follow-up after the council answered them opens the next response.
    return (
        previous is not None
        and previous.closed_by in ("council_reply", "replied")
        and event.author_key == previous.author_key
    )


def _open(key: str, event: CaseEvent, at: datetime, number: int, rules: Rules) -> Case:
    out_of_hours, emergency, suggestion = rules.suggestion(at)
    return Case(
        id=case_id(key, event.id),
        conversation_key=key,
        number=number,
        platform=event.platform,
        channel=event.channel,
        status="open",
        opened_by=event.id,
        author_key=event.author_key or "",
        item_id=event.item_id or "",
        received_at=at,
        due_at=rules.due(at),
        target_hours=rules.target_hours,
        out_of_hours=out_of_hours,
        emergency=emergency,
        suggested_reply=suggestion,
    )


def _close(case: Case, event: CaseEvent, at: datetime, rules: Rules) -> Case:
    hours = rules.clock.hours_between(case.received_at, at)
    return case.model_copy(
        update={
            "status": "closed",
            "closed_at": at,
            "closed_by": "council_reply" if event.kind == "council_reply" else event.action,
            "closed_by_officer": event.by,
            "response_hours": round(hours, 6),
        }
    )


def alerts_due(case: Case, rules: Rules, now: datetime) -> list[Alert]:
    """The alerts this case should have had by ``now`` and has not (empty when closed)."""
    if case.status != "open":
        return []
    due = rules.due(case.received_at)
    if due is None:
        return []
    if now >= due:
        if case.breach_alerted:
            return []
        return [_alert(case, kind="sla_breach", severity="critical", due=due, now=now, rules=rules)]
    at_risk_from = rules.at_risk_from(case.received_at)
    if at_risk_from is not None and now >= at_risk_from and not case.at_risk_alerted:
        return [_alert(case, kind="sla_at_risk", severity="warning", due=due, now=now, rules=rules)]
    return []


def next_alert_at(case: Case, rules: Rules) -> datetime | None:
    """When this case will next need an alert; None when it never will (as things stand)."""
    if case.status != "open" or case.breach_alerted:
        return None
    due = rules.due(case.received_at)
    if due is None:
        return None
    if not case.at_risk_alerted:
        at_risk_from = rules.at_risk_from(case.received_at)
        if at_risk_from is not None and at_risk_from < due:
            return at_risk_from
    return due


def _alert(
    case: Case,
    *,
    kind: str,
    severity: Literal["warning", "critical"],
    due: datetime,
    now: datetime,
    rules: Rules,
) -> Alert:
    left = timedelta(0) if now >= due else due - now
    local_due = due.astimezone(rules.policy.working_time.zone)
    if kind == "sla_breach":
        message = (
            f"Reply deadline passed: a {case.platform} query on {case.channel} was due "
            f"{local_due:%a %d %b %H:%M} and has no reply."
        )
    else:
        message = (
            f"Reply deadline near: a {case.platform} query on {case.channel} is due "
            f"{local_due:%a %d %b %H:%M}."
        )
    return Alert(
        id=sla_alert_id(case.id, kind),
        kind=kind,
        severity=severity,
        subject=case.conversation_key,
        message=message,
        created_at=now,
        data={
            "case_id": case.id,
            "item_id": case.item_id,
            "channel": case.channel,
            "received_at": case.received_at.isoformat(),
            "due_at": due.isoformat(),
            "seconds_left": int(left.total_seconds()),
        },
    )
