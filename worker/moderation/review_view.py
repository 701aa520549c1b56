"""The review queue, the author ledger and the audit trail, whole in every worker.

Every worker process reads ``triage.review``, ``triage.moderation``, ``triage.decisions``
and ``triage.audit`` from the beginning with a plain aiokafka consumer that is assigned
every partition (no consumer group), and folds them into memory:

- the review view: the latest version of each item as triage wrote it, with the
  moderation agent's record of it (``triage.moderation``: advice, closure), response
  items with their reply case from ``triage.cases`` (its deadline, and closed once the
  case is), and the decisions taken on it laid over (so an item is closed the moment its
  decision is seen); open moderation items are enriched with the author's current record;
- the ledger view: each author's record, folded from the audit records;
- the audit view: the audit records within the retention period, for export;
- the erasure list (``triage.erasures``): an erased author's items, audit records and
  ledger are kept redacted (worker/moderation/erasure.py), whichever comes first.

Only what the agent needs to decide is held whole: the open items and the latest
``keep_closed`` closed ones (a block often follows a hide), with their decisions, records
and cases. An older closed item leaves memory; its id stays in ``gone`` (a few dozen
bytes), so that the item read again stays closed and is not held again. What the
officers see of closed history is in the database (worker/db/views.py).

Why not a faust GlobalTable: a GlobalTable needs its own changelog topic, fed by a
table write for each record, when the three topics are already the system of record;
and a GlobalTable is built per topic, while an item's state needs both the review and
the decision topics. A reader assigned all partitions is simple, independent of the
consumer group (so web requests never wait for a rebalance), and reports when it has
caught up, which the decision agent waits for after a restart.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from records import ReviewItem, decode
from records.moderation import (
    CLOSING_ACTIONS,
    AuditRecord,
    AuthorLedger,
    Decision,
    ItemModeration,
)
from records.privacy import Erasure
from records.sla import Alert, Case
from records.verdict import Lane
from worker.clock import Clock
from worker.follow import OnCrash, OnInvalid, TopicFollower
from worker.moderation.erasure import (
    redact_audit,
    redact_decision,
    redact_item,
    redact_ledger,
)
from worker.moderation.ledger import apply_record, enrich
from worker.moderation.policy import ModerationConfig
from worker.read_views import Cursor, page_of
from worker.settings import Settings

if TYPE_CHECKING:
    from worker.context import Views

__all__ = [
    "FAR",
    "KEEP_CLOSED",
    "AuditView",
    "LedgerView",
    "ModerationState",
    "OnCrash",
    "OnInvalid",
    "ReviewView",
    "TopicReader",
    "fill",
    "install_views",
    "overlay",
    "queue_key",
]

log = structlog.get_logger(__name__)

# The alert kinds the moderation agent writes once per review item.
OWN_ALERTS = frozenset({"urgent_out_of_hours"})


KEEP_CLOSED = 1000
"""Closed items held whole, the latest closed: follow-up decisions (a warning or block
after a hide) come soon after; an older one's item is read from the database."""


@dataclass
class ModerationState:
    """The folded topics; pure and synchronous (the reader feeds it records).

    ``items`` holds the open items and the latest ``keep_closed`` closed ones;
    ``decisions``, ``moderation`` and ``cases`` hold what belongs to those, and what
    arrived before its item (until the item comes, or the reader has caught up).
    """

    config: ModerationConfig
    clock: Clock
    items: dict[str, ReviewItem] = field(default_factory=dict)
    decisions: dict[str, list[Decision]] = field(default_factory=dict)
    # Each decision id and the first decision seen under it (the one that counts).
    decisions_by_id: dict[str, Decision] = field(default_factory=dict)
    # The moderation agent's latest record of each item (triage.moderation).
    moderation: dict[str, ItemModeration] = field(default_factory=dict)
    ledgers: dict[str, AuthorLedger] = field(default_factory=dict)
    audit: dict[str, AuditRecord] = field(default_factory=dict)
    # The latest version of each reply case, by the response item that opened it.
    cases: dict[str, Case] = field(default_factory=dict)
    # The ids of the alerts on triage.alerts of the kinds moderation writes once per
    # item (OWN_ALERTS), so that a replayed item does not alert again.
    alert_ids: set[str] = field(default_factory=set)
    # The author keys on the erasure list.
    erased: set[str] = field(default_factory=set)
    # Bumped on every change, so pages can tell when to refresh.
    version: int = 0
    keep_closed: int = KEEP_CLOSED
    # The closed items held, the earliest closed first: the first to go.
    closed_held: OrderedDict[str, None] = field(default_factory=OrderedDict)
    # The ids of closed items no longer held: all that is kept of them.
    gone: set[str] = field(default_factory=set)
    # True while the reader reads back what the topics held at its start, in whatever
    # order its fetches give: a record closing an item not read yet lets it go at once
    # rather than wait for it (the closed history would all wait at once).
    reading_back: bool = False

    def add_item(self, item: ReviewItem) -> None:
        if item.id in self.gone:
            return  # closed and let go: read again (a replay), it stays so
        self.items[item.id] = self.redacted(item)
        self.version += 1
        self._settle(item.id)

    def redacted(self, item: ReviewItem) -> ReviewItem:
        """The item as the view may show it: redacted when its author is erased."""
        return redact_item(item) if item.comment.author_key in self.erased else item

    def add_erasure(self, erasure: Erasure) -> None:
        """Put an author on the erasure list and redact what is held of them already."""
        key = erasure.author_key
        if key in self.erased:
            return
        self.erased.add(key)
        for item_id, item in self.items.items():
            if item.comment.author_key == key:
                self.items[item_id] = redact_item(item)
        for record_id, record in self.audit.items():
            if record.author_key == key:
                self.audit[record_id] = redact_audit(record)
        ledger = self.ledgers.get(key)
        if ledger is not None:
            self.ledgers[key] = redact_ledger(ledger)
        self.version += 1

    def add_decision(self, decision: Decision) -> None:
        if decision.id in self.decisions_by_id or decision.item_id in self.gone:
            return
        if decision.action in CLOSING_ACTIONS and self._closes_unread(decision.item_id):
            return
        self.decisions_by_id[decision.id] = decision
        self.decisions.setdefault(decision.item_id, []).append(decision)
        self.version += 1
        self._settle(decision.item_id)

    def add_case(self, case: Case) -> None:
        if case.item_id in self.gone:
            return
        if case.status == "closed" and self._closes_unread(case.item_id):
            return
        self.cases[case.item_id] = case
        self.version += 1
        self._settle(case.item_id)

    def add_moderation(self, record: ItemModeration) -> None:
        # Closed is final: the agent adds its records at once and the reader finds them
        # again later, so an older open record may arrive after the closed one.
        if record.item_id in self.gone:
            return
        if record.status == "closed" and self._closes_unread(record.item_id):
            return
        known = self.moderation.get(record.item_id)
        if known is not None and known.status == "closed" and record.status != "closed":
            return
        self.moderation[record.item_id] = record
        self.version += 1
        self._settle(record.item_id)

    def add_alert(self, alert: Alert) -> None:
        if alert.kind in OWN_ALERTS:
            self.alert_ids.add(alert.id)

    def add_audit(self, record: AuditRecord) -> None:
        # Past the retention period a record leaves the ledger as well as the exports.
        if record.id in self.audit or record.decided_at < self.retained_since():
            return
        if record.author_key in self.erased:
            record = redact_audit(record)
        self.audit[record.id] = record
        self.ledgers[record.author_key] = apply_record(self.ledgers.get(record.author_key), record)
        self.version += 1

    def is_closed(self, item_id: str) -> bool:
        """Whether the item is known closed (held closed, or closed and let go)."""
        if item_id in self.gone:
            return True
        item = self.items.get(item_id)
        return item is not None and self._overlaid(item).status == "closed"

    def caught_up(self) -> None:
        """The reader has read what the topics held at the start: what still waits for its
        item belongs to an item no longer on triage.review (deleted by its retention)."""
        self.reading_back = False
        for item_id in [i for i in self.decisions if i not in self.items]:
            for decision in self.decisions.pop(item_id):
                self.decisions_by_id.pop(decision.id, None)
        for pending in (self.moderation, self.cases):
            for item_id in [i for i in pending if i not in self.items]:
                del pending[item_id]

    def _closes_unread(self, item_id: str) -> bool:
        """While reading back: an item not read yet that this record closes is let go."""
        if not self.reading_back or item_id in self.items:
            return False
        self._let_go(item_id)
        return True

    def _settle(self, item_id: str) -> None:
        """Hold a closed item among the latest closed, letting the earliest go."""
        item = self.items.get(item_id)
        if item is None:
            return  # what arrived before its item waits for it
        if self._overlaid(item).status != "closed":
            self.closed_held.pop(item_id, None)
            return
        if item_id in self.closed_held:
            return
        self.closed_held[item_id] = None
        while len(self.closed_held) > self.keep_closed:
            earliest, _ = self.closed_held.popitem(last=False)
            self._let_go(earliest)

    def _let_go(self, item_id: str) -> None:
        self.items.pop(item_id, None)
        self.moderation.pop(item_id, None)
        self.cases.pop(item_id, None)
        for decision in self.decisions.pop(item_id, ()):
            self.decisions_by_id.pop(decision.id, None)
        self.gone.add(item_id)

    def _overlaid(self, item: ReviewItem) -> ReviewItem:
        case = self.cases.get(item.id) if item.lane == "response" else None
        return overlay(item, case, self.moderation.get(item.id), self.decisions.get(item.id, ()))

    # -- reading -----------------------------------------------------------------------
    def current(self, item: ReviewItem) -> ReviewItem:
        """The item with its case and decisions laid over and, for moderation, the advice now."""
        return self.enriched(self._overlaid(item))

    def enriched(self, item: ReviewItem) -> ReviewItem:
        """An open item with the author's current record and the policy's next step."""
        if item.status != "open":
            return item
        ledger = self.ledgers.get(item.comment.author_key)
        return enrich(item, ledger, self.config.moderation, self.clock.now())

    def get(self, item_id: str) -> ReviewItem | None:
        item = self.items.get(item_id)
        return self.current(item) if item else None

    def list_items(self, lane: Lane | None = None, status: str | None = "open") -> list[ReviewItem]:
        out = []
        for item in self.items.values():
            if lane is not None and item.lane != lane:
                continue
            current = self.current(item)
            if status is None or current.status == status:
                out.append(current)
        out.sort(key=lambda i: (i.due_at is None, i.due_at or i.created_at, i.created_at))
        return out

    def retained_since(self) -> datetime:
        return self.clock.now() - timedelta(days=self.config.moderation.audit_retention_days)


def overlay(
    item: ReviewItem,
    case: Case | None,
    note: ItemModeration | None,
    decisions: Iterable[Decision],
) -> ReviewItem:
    """The item as triage wrote it with its reply case (response items), moderation's
    record of it and the decisions taken on it (in the order read) laid over; the author's
    current record is not in it (:meth:`ModerationState.enriched` adds that). The database's
    read side stores this (worker/db/projector.py), so both views agree."""
    if case is not None and item.lane == "response":
        item = with_case(item, case)
    update: dict[str, Any] = {}
    if note is not None and note.history is not None:
        update.update(
            history=note.history,
            recommended=note.recommended,
            recommendation=note.recommendation,
        )
    for decision in decisions:
        if decision.action == "relabel" and decision.labels is not None and item.verdict:
            update["verdict"] = item.verdict.model_copy(update={"labels": decision.labels})
        if decision.action in CLOSING_ACTIONS and update.get("outcome") is None:
            update.update(
                status="closed",
                outcome=decision.action,
                decided_by=decision.by,
                decided_at=decision.decided_at,
            )
    if note is not None and note.status == "closed" and "status" not in update:
        update.update(
            status="closed",
            outcome=note.outcome,
            decided_by=note.decided_by,
            decided_at=note.decided_at,
        )
    if item.status == "closed" and "status" not in update and item.outcome is None:
        update["outcome"] = "closed"
    return item.model_copy(update=update) if update else item


FAR = datetime.max.replace(tzinfo=UTC)


def queue_key(item: ReviewItem) -> tuple[datetime, datetime, str]:
    """Where an open item stands in its lane: replies by deadline, the rest oldest first."""
    due = (item.due_at or FAR) if item.lane == "response" else item.comment.created_at
    return (due, item.comment.created_at, item.id)


def with_case(item: ReviewItem, case: Case) -> ReviewItem:
    """A response item as its reply case has it: received, due, and closed with the case."""
    closed = case.status == "closed"
    note = f"reply case closed: {case.closed_by}" if closed else case.suggested_reply or ""
    return item.model_copy(
        update={
            "status": "closed" if closed or item.status == "closed" else "open",
            "created_at": case.received_at,
            "due_at": case.due_at,
            "note": note,
        }
    )


class ReviewView:
    """``ctx.views.review``: review items by lane and status, with decisions applied."""

    def __init__(self, state: ModerationState) -> None:
        self._state = state

    @property
    def version(self) -> int:
        return self._state.version

    def items(self, lane: Lane | None = None, status: str | None = "open") -> list[ReviewItem]:
        return self._state.list_items(lane, status)

    def get(self, item_id: str) -> ReviewItem | None:
        return self._state.get(item_id)

    def page(
        self, lane: Lane | None, status: str | None, after: Cursor | None, limit: int
    ) -> list[ReviewItem]:
        return page_of(self.items(lane, status), after, limit)

    def decisions(self, item_id: str) -> list[Decision]:
        """The decisions on an item; an erased author's with the officers' notes blanked
        (kept whole inside, where a redelivered decision is compared with the first)."""
        decisions = list(self._state.decisions.get(item_id, ()))
        item = self._state.items.get(item_id)
        if item is not None and item.comment.author_key in self._state.erased:
            decisions = [redact_decision(d) for d in decisions]
        return decisions

    def decision(self, decision_id: str) -> Decision | None:
        """The decision first seen under this id, or None."""
        return self._state.decisions_by_id.get(decision_id)

    # What the pages ask, as the database's view (worker/db/views.py) answers it too.

    def many(self, item_ids: Iterable[str]) -> dict[str, ReviewItem]:
        found = {i: self.get(i) for i in item_ids}
        return {i: item for i, item in found.items() if item is not None}

    def queue(self, lane: Lane, limit: int) -> list[ReviewItem]:
        """The lane's open items in queue order, at most ``limit``."""
        return sorted(self.items(lane=lane), key=queue_key)[:limit]

    def open_counts(self) -> dict[str, int]:
        """Open items per lane."""
        counts: dict[str, int] = {}
        for item in self.items():
            counts[item.lane] = counts.get(item.lane, 0) + 1
        return counts

    def stamp(self) -> str:
        """Changes whenever an item, its decisions or its case change."""
        return str(self._state.version)

    def open_for_author(self, author_key: str) -> list[ReviewItem]:
        return [i for i in self.items() if i.comment.author_key == author_key]

    def posted_between(self, start: datetime, end: datetime) -> list[ReviewItem]:
        """Every item (open or closed) whose comment was posted from ``start`` up to ``end``."""
        return [i for i in self.items(status=None) if start <= i.comment.created_at < end]

    def labelled_between(
        self, start: datetime, end: datetime
    ) -> list[tuple[str, datetime, tuple[str, ...]]]:
        return [
            (i.comment.comment_key, i.comment.created_at, tuple(i.verdict.labels))
            for i in self.posted_between(start, end)
            if i.verdict is not None
        ]


class LedgerView:
    """``ctx.views.ledger``: each author's record, and the blocks."""

    def __init__(self, state: ModerationState) -> None:
        self._state = state

    def get(self, author_key: str) -> AuthorLedger | None:
        return self._state.ledgers.get(author_key)

    def many(self, author_keys: Iterable[str]) -> dict[str, AuthorLedger]:
        ledgers = self._state.ledgers
        return {key: ledgers[key] for key in author_keys if key in ledgers}

    def authors(self) -> list[AuthorLedger]:
        return sorted(self._state.ledgers.values(), key=lambda a: a.author_key)

    def blocks(self, appealable: bool | None = None) -> list[AuthorLedger]:
        """Authors blocked now; ``appealable`` True/False keeps those past/before the date."""
        today = self._state.clock.now().date()
        out = []
        for ledger in self.authors():
            block = ledger.active_block
            if block is None:
                continue
            if appealable is None or (block.appealable_from <= today) == appealable:
                out.append(ledger)
        return out


class AuditView:
    """``ctx.views.audit``: the policy's records, within the retention period."""

    def __init__(self, state: ModerationState) -> None:
        self._state = state

    def has(self, record_id: str) -> bool:
        return record_id in self._state.audit

    def records(
        self,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        author: str | None = None,
    ) -> list[AuditRecord]:
        """Records decided from ``start`` up to ``end`` (dates are whole days, inclusive)."""
        since = self._state.retained_since()
        out = []
        for record in self._state.audit.values():
            at = record.decided_at
            if at < since or (author is not None and record.author_key != author):
                continue
            if start is not None and not _after(at, start):
                continue
            if end is not None and not _before(at, end):
                continue
            out.append(record)
        out.sort(key=lambda r: (r.decided_at, r.id))
        return out


def _after(at: datetime, start: date | datetime) -> bool:
    return at >= start if isinstance(start, datetime) else at.date() >= start


def _before(at: datetime, end: date | datetime) -> bool:
    return at <= end if isinstance(end, datetime) else at.date() <= end


class TopicReader(TopicFollower):
    """Follows the review, moderation, decision, audit, case, alert and erasure topics into
    a :class:`ModerationState` (worker/follow.py does the reading).

    Those of ``triage.audit`` and ``triage.moderation`` that it cannot read, which no
    agent reads, go to ``on_invalid`` (the dead-letter topic), while the moderation agent
    dead-letters those of its inputs (the review and decision topics), and the SLA view
    those of ``triage.cases``.
    """

    def __init__(
        self,
        settings: Settings,
        state: ModerationState,
        *,
        on_invalid: OnInvalid | None = None,
        on_crash: OnCrash | None = None,
    ) -> None:
        self.state = state
        state.reading_back = True
        topics = settings.topics
        super().__init__(
            settings,
            {
                topics.review: self._on_review,
                topics.moderation: self._on_moderation,
                topics.decisions: self._on_decision,
                topics.audit: self._on_audit,
                topics.cases: self._on_case,
                topics.alerts: self._on_alert,
                topics.erasures: self._on_erasure,
            },
            name="moderation-view",
            dead_lettered={topics.audit, topics.moderation},
            on_invalid=on_invalid,
            on_crash=on_crash,
        )

    def on_caught_up(self) -> None:
        self.state.caught_up()

    def _on_review(self, value: bytes | None) -> None:
        self.state.add_item(decode(value, ReviewItem))

    def _on_moderation(self, value: bytes | None) -> None:
        self.state.add_moderation(decode(value, ItemModeration))

    def _on_decision(self, value: bytes | None) -> None:
        self.state.add_decision(decode(value, Decision))

    def _on_audit(self, value: bytes | None) -> None:
        self.state.add_audit(decode(value, AuditRecord))

    def _on_case(self, value: bytes | None) -> None:
        self.state.add_case(decode(value, Case))

    def _on_erasure(self, value: bytes | None) -> None:
        # The projector dead-letters unreadable erasures; here they are skipped.
        if value is None:
            return  # a compaction tombstone: an erasure is never withdrawn
        self.state.add_erasure(decode(value, Erasure))

    def _on_alert(self, value: bytes | None) -> None:
        # Unreadable alerts are skipped here: the notifier dead-letters them.
        self.state.add_alert(decode(value, Alert))


def install_views(views: Views, state: ModerationState) -> None:
    views.review = ReviewView(state)
    views.ledger = LedgerView(state)
    views.audit = AuditView(state)
    views.moderation_state = state


def fill(state: ModerationState, records: Iterable[Any]) -> ModerationState:
    """Feed records directly (tests and tools that hold records already)."""
    for record in records:
        if isinstance(record, ReviewItem):
            state.add_item(record)
        elif isinstance(record, Decision):
            state.add_decision(record)
        elif isinstance(record, AuditRecord):
            state.add_audit(record)
        elif isinstance(record, Case):
            state.add_case(record)
        elif isinstance(record, ItemModeration):
            state.add_moderation(record)
        elif isinstance(record, Erasure):
            state.add_erasure(record)
    return state
