"""The SLA view every worker holds: the open cases, the latest closed ones, and the
emergency history.

It is fed by readers of ``triage.cases`` and ``triage.emergency`` (worker/follow.py)
and read as ``ctx.views.sla`` by the worker's parts, and by the officers' app where it
has no database. A closed case is final for the reply clock, so only the latest
``keep_closed`` of them stay; the reports read closed history from the database.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from records import decode
from records.sla import Case, EmergencyChange
from worker.sla.cases import Rules
from worker.sla.emergency import EmergencyState
from worker.sla.policy import SlaPolicy

__all__ = ["KEEP_CLOSED", "Publish", "SlaView", "emergency_json", "open_order"]

Publish = Callable[[EmergencyChange], Awaitable[None]]


KEEP_CLOSED = 1000
"""Closed cases kept, the latest closed."""


class SlaView:
    def __init__(self, policy: SlaPolicy | None = None, *, keep_closed: int = KEEP_CLOSED) -> None:
        self.policy = policy or SlaPolicy()
        self._cases: dict[str, Case] = {}
        self.keep_closed = keep_closed
        # The closed cases held, the earliest closed first: the first to go.
        self._closed: OrderedDict[str, None] = OrderedDict()
        self.emergency = EmergencyState()
        self.rules = Rules(self.policy, self.emergency)
        # Bumped whenever the rules change, so the timer knows to recompute due times.
        self.rules_version = 0
        # Set by the agent: sends a switch to triage.emergency.
        self.publish_emergency: Publish | None = None

    # Feeding

    def apply_case(self, case: Case) -> None:
        self._cases[case.id] = case
        if case.status != "closed":
            self._closed.pop(case.id, None)
            return
        self._closed[case.id] = None
        while len(self._closed) > self.keep_closed:
            earliest, _ = self._closed.popitem(last=False)
            del self._cases[earliest]

    def apply_emergency(self, change: EmergencyChange) -> None:
        if any(c.id == change.id for c in self.emergency.changes):
            return
        self.emergency = self.emergency.add(change)
        self.rules = Rules(self.policy, self.emergency)
        self.rules_version += 1

    def on_case_record(self, value: bytes | None) -> None:
        self.apply_case(decode(value, Case))

    def on_emergency_record(self, value: bytes | None) -> None:
        self.apply_emergency(decode(value, EmergencyChange))

    # Reading

    def cases(self) -> list[Case]:
        return sorted(self._cases.values(), key=lambda c: (c.received_at, c.id))

    def get(self, case_id: str) -> Case | None:
        return self._cases.get(case_id)

    def cases_received(self, start: datetime, end: datetime | None = None) -> list[Case]:
        """Cases received from ``start`` (up to ``end``), oldest first."""
        return [
            c
            for c in self.cases()
            if c.received_at >= start and (end is None or c.received_at < end)
        ]

    def open_cases(self, limit: int | None = None) -> list[Case]:
        """Open cases, soonest due first (paused ones, with no due time, last)."""
        open_ = [c for c in self._cases.values() if c.status == "open"]
        return sorted(open_, key=open_order)[:limit]

    def breached(self, case: Case, now: datetime) -> bool:
        """Past its deadline: answered late, or still open after the due time."""
        if case.status == "closed":
            return case.met_target is False
        return case.due_at is not None and now >= case.due_at

    def counts(self, now: datetime) -> dict[str, int]:
        open_ = [c for c in self._cases.values() if c.status == "open"]
        return {
            "open": len(open_),
            "breached": sum(1 for c in open_ if self.breached(c, now)),
        }

    def emergency_state(self) -> dict[str, Any]:
        return emergency_json(self.policy, self.emergency)


def open_order(case: Case) -> tuple[bool, datetime, str]:
    """Soonest due first; paused cases (no due time) last."""
    return (case.due_at is None, case.due_at or case.received_at, case.id)


def emergency_json(policy: SlaPolicy, emergency: EmergencyState) -> dict[str, Any]:
    """Emergency mode as the API shows it: on or off, since when, by whom, the history."""
    latest = emergency.latest
    return {
        "active": emergency.active,
        "clock": policy.replies.emergency_clock,
        "changed_at": latest.at.isoformat() if latest else None,
        "by": latest.by if latest else None,
        "reason": latest.reason if latest else None,
        "suggested_reply": policy.replies.emergency if emergency.active else None,
        "history": [c.to_json_dict() for c in emergency.changes],
    }
