"""The officers' views over the database's read side (worker/db/projector.py folds it).

The same methods as the in-memory views (worker/read_views.py names them), answered by
indexed queries: the queue by (status, lane, place in the lane) with a limit, an author's
items by author key, reports by when comments were posted or cases received, blocks by
(blocked, appeal date). The queue rows hold each item with its case, moderation's record
and decisions laid over already; what depends on the moment (the author's current record
and the policy's next step) is added here for the items a page shows, as the in-memory
view does.
"""

from __future__ import annotations

import time as clock_time
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import ColumnElement, and_, func, or_, select

from records import ReviewItem
from records.moderation import AuditRecord, AuthorLedger, Decision
from records.sla import Case, EmergencyChange
from records.verdict import Lane
from worker.clock import Clock
from worker.db.engine import Database
from worker.db.handling import DbHandlingView
from worker.db.models import AuditRow, CaseRow, DecisionRow, EmergencyRow, LedgerRow, QueueItemRow
from worker.moderation.ledger import enrich
from worker.moderation.policy import ModerationConfig
from worker.read_views import Cursor, Publish
from worker.sla import Rules
from worker.sla.emergency import EmergencyState
from worker.sla.policy import SlaPolicy
from worker.sla.view import emergency_json, open_order

if TYPE_CHECKING:
    from worker.context import Views

__all__ = ["DbAuditView", "DbLedgerView", "DbReviewView", "DbSlaView", "install"]

CHUNK = 500
# How long a page may show emergency mode as it was (a switch is folded within a second).
EMERGENCY_TTL_S = 1.0


def _ledgers(database: Database, keys: Iterable[str]) -> dict[str, AuthorLedger]:
    listed = sorted(set(keys))
    out: dict[str, AuthorLedger] = {}
    with database.read() as session:
        for start in range(0, len(listed), CHUNK):
            chunk = listed[start : start + CHUNK]
            for row in session.scalars(select(LedgerRow).where(LedgerRow.id.in_(chunk))):
                out[row.id] = AuthorLedger.model_validate(row.record)
    return out


class DbReviewView:
    """``ctx.views.review`` over the queue_items and decisions tables."""

    # Answers by queries: worker/read_views.py's off_loop reads it off the event loop.
    blocking: ClassVar[bool] = True

    def __init__(self, database: Database, config: ModerationConfig, clock: Clock) -> None:
        self.database = database
        self.config = config
        self.clock = clock

    def _items(
        self, *where: ColumnElement[bool], order: Any = (), limit: int | None = None
    ) -> list[ReviewItem]:
        query = select(QueueItemRow.record).where(*where).order_by(*order).limit(limit)
        with self.database.read() as session:
            items = [ReviewItem.model_validate(record) for record in session.scalars(query)]
        return self._enriched(items)

    def _enriched(self, items: list[ReviewItem]) -> list[ReviewItem]:
        """Open items with the author's current record and the policy's next step."""
        open_ = [i for i in items if i.status == "open"]
        if not open_:
            return items
        ledgers = _ledgers(self.database, (i.comment.author_key for i in open_))
        now = self.clock.now()
        policy = self.config.moderation
        return [
            enrich(i, ledgers.get(i.comment.author_key), policy, now) if i.status == "open" else i
            for i in items
        ]

    def items(self, lane: Lane | None = None, status: str | None = "open") -> list[ReviewItem]:
        where: list[ColumnElement[bool]] = []
        if lane is not None:
            where.append(QueueItemRow.lane == lane)
        if status is not None:
            where.append(QueueItemRow.status == status)
        items = self._items(*where)
        items.sort(key=lambda i: (i.due_at is None, i.due_at or i.created_at, i.created_at))
        return items

    def get(self, item_id: str) -> ReviewItem | None:
        found = self._items(QueueItemRow.id == item_id)
        return found[0] if found else None

    def page(
        self, lane: Lane | None, status: str | None, after: Cursor | None, limit: int
    ) -> list[ReviewItem]:
        where: list[ColumnElement[bool]] = []
        if lane is not None:
            where.append(QueueItemRow.lane == lane)
        if status is not None:
            where.append(QueueItemRow.status == status)
        if after is not None:
            made, item_id = _at(after[0]), after[1]
            where.append(
                or_(
                    QueueItemRow.made_at > made,
                    and_(QueueItemRow.made_at == made, QueueItemRow.id > item_id),
                )
            )
        return self._items(*where, order=(QueueItemRow.made_at, QueueItemRow.id), limit=limit)

    def many(self, item_ids: Iterable[str]) -> dict[str, ReviewItem]:
        listed = sorted(set(item_ids))
        found: list[ReviewItem] = []
        for start in range(0, len(listed), CHUNK):
            found.extend(self._items(QueueItemRow.id.in_(listed[start : start + CHUNK])))
        return {item.id: item for item in found}

    def decisions(self, item_id: str) -> list[Decision]:
        query = (
            select(DecisionRow.record)
            .where(DecisionRow.item_id == item_id)
            .order_by(DecisionRow.source_partition, DecisionRow.source_offset)
        )
        with self.database.read() as session:
            return [Decision.model_validate(r) for r in session.scalars(query)]

    def decision(self, decision_id: str) -> Decision | None:
        with self.database.read() as session:
            row = session.get(DecisionRow, decision_id)
            return Decision.model_validate(row.record) if row is not None else None

    def queue(self, lane: Lane, limit: int) -> list[ReviewItem]:
        order = (QueueItemRow.sort_at, QueueItemRow.posted_at, QueueItemRow.id)
        return self._items(
            QueueItemRow.status == "open", QueueItemRow.lane == lane, order=order, limit=limit
        )

    def open_counts(self) -> dict[str, int]:
        query = (
            select(QueueItemRow.lane, func.count())
            .where(QueueItemRow.status == "open")
            .group_by(QueueItemRow.lane)
        )
        with self.database.read() as session:
            return {lane: int(count) for lane, count in session.execute(query).tuples()}

    def stamp(self) -> str:
        """The newest versions of the queue and of the ledgers (the advice shown on an
        open item follows its author's record)."""
        with self.database.read() as session:
            queue = session.scalar(select(func.max(QueueItemRow.version))) or 0
            ledgers = session.scalar(select(func.max(LedgerRow.version))) or 0
        return f"{queue}.{ledgers}"

    def open_for_author(self, author_key: str) -> list[ReviewItem]:
        order = (QueueItemRow.sort_at, QueueItemRow.id)
        return self._items(
            QueueItemRow.author_key == author_key, QueueItemRow.status == "open", order=order
        )

    def posted_between(self, start: datetime, end: datetime) -> list[ReviewItem]:
        # Closed items need no enriching, and reports count open ones by their labels alone.
        query = select(QueueItemRow.record).where(
            QueueItemRow.posted_at >= _at(start), QueueItemRow.posted_at < _at(end)
        )
        with self.database.read() as session:
            return [ReviewItem.model_validate(r) for r in session.scalars(query)]

    def labelled_between(
        self, start: datetime, end: datetime
    ) -> list[tuple[str, datetime, tuple[str, ...]]]:
        query = select(QueueItemRow.comment_key, QueueItemRow.posted_at, QueueItemRow.labels).where(
            QueueItemRow.posted_at >= _at(start),
            QueueItemRow.posted_at < _at(end),
            QueueItemRow.labels.is_not(None),
        )
        with self.database.read() as session:
            rows = session.execute(query).tuples().all()
        return [
            (key, _utc(at), tuple(labels.split())) for key, at, labels in rows if labels is not None
        ]


def _at(at: datetime) -> datetime:
    """An instant as the tables compare it: in UTC (SQLite compares the text, which drops
    the offset, and every row is written in UTC)."""
    return at.astimezone(UTC)


def _utc(at: datetime) -> datetime:
    # SQLite gives back naive datetimes, in UTC as they were written.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class DbLedgerView:
    """``ctx.views.ledger`` over the author_ledgers table."""

    # Answers by queries: worker/read_views.py's off_loop reads it off the event loop.
    blocking: ClassVar[bool] = True

    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock

    def get(self, author_key: str) -> AuthorLedger | None:
        with self.database.read() as session:
            row = session.get(LedgerRow, author_key)
            return AuthorLedger.model_validate(row.record) if row is not None else None

    def many(self, author_keys: Iterable[str]) -> dict[str, AuthorLedger]:
        return _ledgers(self.database, author_keys)

    def _ledgers(self, *where: ColumnElement[bool]) -> list[AuthorLedger]:
        query = select(LedgerRow.record).where(*where).order_by(LedgerRow.id)
        with self.database.read() as session:
            return [AuthorLedger.model_validate(r) for r in session.scalars(query)]

    def authors(self) -> list[AuthorLedger]:
        return self._ledgers()

    def blocks(self, appealable: bool | None = None) -> list[AuthorLedger]:
        """Authors blocked now; ``appealable`` True/False keeps those past/before the date."""
        today = self.clock.now().date()
        where: list[ColumnElement[bool]] = [LedgerRow.blocked.is_(True)]
        if appealable is True:
            where.append(LedgerRow.appealable_from <= today)
        elif appealable is False:
            where.append(LedgerRow.appealable_from > today)
        return self._ledgers(*where)


def _start(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time(), UTC)


def _end(value: date | datetime) -> tuple[datetime, bool]:
    """The end as an instant, and whether it is included (a date is, to its last moment)."""
    if isinstance(value, datetime):
        return value, True
    return datetime.combine(value + timedelta(days=1), time(), UTC), False


class DbAuditView:
    """``ctx.views.audit`` over the audit_records table, within the retention period."""

    # Answers by queries: worker/read_views.py's off_loop reads it off the event loop.
    blocking: ClassVar[bool] = True

    def __init__(self, database: Database, config: ModerationConfig, clock: Clock) -> None:
        self.database = database
        self.config = config
        self.clock = clock

    def _since(self) -> datetime:
        return self.clock.now() - timedelta(days=self.config.moderation.audit_retention_days)

    def has(self, record_id: str) -> bool:
        query = select(AuditRow.id).where(
            AuditRow.id == record_id, AuditRow.decided_at >= _at(self._since())
        )
        with self.database.read() as session:
            return session.scalar(query) is not None

    def records(
        self,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        author: str | None = None,
    ) -> list[AuditRecord]:
        """Records decided from ``start`` up to ``end`` (dates are whole days, inclusive)."""
        where: list[ColumnElement[bool]] = [AuditRow.decided_at >= _at(self._since())]
        if author is not None:
            where.append(AuditRow.author_key == author)
        if start is not None:
            where.append(AuditRow.decided_at >= _at(_start(start)))
        if end is not None:
            until, included = _end(end)
            until = _at(until)
            where.append(AuditRow.decided_at <= until if included else AuditRow.decided_at < until)
        query = select(AuditRow.record).where(*where).order_by(AuditRow.decided_at, AuditRow.id)
        with self.database.read() as session:
            return [AuditRecord.model_validate(r) for r in session.scalars(query)]


class DbSlaView:
    """``ctx.views.sla`` over the cases and emergency_changes tables."""

    # Answers by queries: worker/read_views.py's off_loop reads it off the event loop.
    blocking: ClassVar[bool] = True

    def __init__(self, database: Database, policy: SlaPolicy | None = None) -> None:
        self.database = database
        self.policy = policy or SlaPolicy()
        # Sends a switch to triage.emergency (set by whoever holds a producer).
        self.publish_emergency: Publish | None = None
        self._rules: tuple[tuple[str, ...], Rules] | None = None
        self._emergency: tuple[float, EmergencyState] | None = None

    @property
    def emergency(self) -> EmergencyState:
        """The switches so far, read again at most every EMERGENCY_TTL_S seconds: a page
        asks for them for every item it shows."""
        now = clock_time.monotonic()
        if self._emergency is not None and now - self._emergency[0] < EMERGENCY_TTL_S:
            return self._emergency[1]
        query = select(EmergencyRow.record).order_by(
            EmergencyRow.source_partition, EmergencyRow.source_offset
        )
        with self.database.read() as session:
            changes = [EmergencyChange.model_validate(r) for r in session.scalars(query)]
        state = EmergencyState.of(changes)
        self._emergency = (now, state)
        return state

    @property
    def rules(self) -> Rules:
        """The reply clock with the emergency periods; rebuilt only when they change."""
        emergency = self.emergency
        ids = tuple(c.id for c in emergency.changes)
        if self._rules is None or self._rules[0] != ids:
            self._rules = (ids, Rules(self.policy, emergency))
        return self._rules[1]

    def _cases(self, *where: ColumnElement[bool], limit: int | None = None) -> list[Case]:
        query = select(CaseRow.record).where(*where).order_by(CaseRow.received_at, CaseRow.id)
        with self.database.read() as session:
            return [Case.model_validate(r) for r in session.scalars(query.limit(limit))]

    def cases(self) -> list[Case]:
        return self._cases()

    def cases_received(self, start: datetime, end: datetime | None = None) -> list[Case]:
        where: list[ColumnElement[bool]] = [CaseRow.received_at >= _at(start)]
        if end is not None:
            where.append(CaseRow.received_at < _at(end))
        return self._cases(*where)

    def get(self, case_id: str) -> Case | None:
        with self.database.read() as session:
            row = session.get(CaseRow, case_id)
            return Case.model_validate(row.record) if row is not None else None

    def open_cases(self, limit: int | None = None) -> list[Case]:
        """Open cases, soonest due first (paused ones, with no due time, last)."""
        query = (
            select(CaseRow.record)
            .where(CaseRow.status == "open")
            .order_by(CaseRow.due_at.is_(None), CaseRow.due_at, CaseRow.received_at, CaseRow.id)
            .limit(limit)
        )
        with self.database.read() as session:
            cases = [Case.model_validate(r) for r in session.scalars(query)]
        return sorted(cases, key=open_order)

    def breached(self, case: Case, now: datetime) -> bool:
        if case.status == "closed":
            return case.met_target is False
        return case.due_at is not None and now >= case.due_at

    def counts(self, now: datetime) -> dict[str, int]:
        open_ = select(func.count()).select_from(CaseRow).where(CaseRow.status == "open")
        late = open_.where(CaseRow.due_at <= _at(now))
        with self.database.read() as session:
            return {"open": session.scalar(open_) or 0, "breached": session.scalar(late) or 0}

    def emergency_state(self) -> dict[str, Any]:
        return emergency_json(self.policy, self.emergency)


def install(
    views: Views,
    database: Database,
    *,
    config: ModerationConfig,
    policy: SlaPolicy,
    clock: Clock,
) -> DbSlaView:
    """Puts the database's views where the web app reads them; the SLA view is returned
    so that the caller can give it a way to publish emergency switches."""
    views.review = DbReviewView(database, config, clock)
    views.handling = DbHandlingView(database, views.review)
    views.ledger = DbLedgerView(database, clock)
    views.audit = DbAuditView(database, config, clock)
    views.moderation_config = config
    sla = views.sla = DbSlaView(database, policy)
    return sla
