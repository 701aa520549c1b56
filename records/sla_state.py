"""The SLA part's own topics: ``triage.sla-events`` and ``triage.sla-state``.

``triage.sla-events`` carries :class:`SlaMessage` (key: conversation key): officers'
decisions that end a wait for a reply, re-keyed by conversation, and the timer's ticks.
``triage.sla-state`` carries :class:`SlaState` (key: conversation key; compacted, so the
latest value is the conversation's state): the events the case fold needs and the ids of
the alerts already sent. Both are keyed like ``triage.verdicts``, so each conversation's
verdicts, events and state share a partition number.

The state holds no comment text: only ids, times, authors' keys and channels, so keeping
it until a conversation is forgotten keeps nothing the comments' retention period covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from records.base import UtcDatetime
from records.moderation import Decision
from records.sla import CloseReason

__all__ = ["MAX_EVENTS", "CaseEvent", "Conversation", "EventKind", "SlaMessage", "SlaState"]

EventKind = Literal["query", "resident", "council_reply", "decision"]

MAX_EVENTS = 300
"""Events kept per conversation; the oldest go first (long threads are rare)."""


class CaseEvent(BaseModel):
    """One thing that happened in a conversation, as the case fold needs it."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: EventKind
    at: UtcDatetime
    author_key: str | None = None
    platform: str = ""
    channel: str = ""
    # Resident comments: their response-lane review item id. Decisions: the item decided.
    item_id: str | None = None
    # Decisions: the action and the officer.
    action: CloseReason | None = None
    by: str | None = None


class Conversation(BaseModel):
    """A conversation's events, deduplicated by id, and the alerts already sent."""

    model_config = ConfigDict(frozen=True)

    key: str
    events: tuple[CaseEvent, ...] = ()
    alerts_sent: tuple[str, ...] = ()

    def with_event(self, event: CaseEvent) -> Conversation:
        """The state with ``event`` added; the same state when it was seen already."""
        if any(e.id == event.id for e in self.events):
            return self
        events = sorted((*self.events, event), key=lambda e: (e.at, e.id))[-MAX_EVENTS:]
        return self.model_copy(update={"events": tuple(events)})

    def with_alerts(self, ids: Iterable[str]) -> Conversation:
        new = tuple(i for i in ids if i not in self.alerts_sent)
        if not new:
            return self
        return self.model_copy(update={"alerts_sent": (*self.alerts_sent, *new)})


class SlaState(BaseModel):
    """A conversation's state on ``triage.sla-state``, with what was last published of
    its cases. ``seq`` grows with each write, so an older copy never replaces a newer one;
    ``partition`` is the conversation's partition of ``triage.verdicts``."""

    model_config = ConfigDict(frozen=True)

    seq: int = 0
    partition: int
    conversation: Conversation
    # case id -> digest of the version last written to triage.cases
    published: dict[str, str] = {}


class SlaMessage(BaseModel):
    """On ``triage.sla-events``: a forwarded decision, or a timer tick."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["decision", "tick"]
    decision: Decision | None = None
