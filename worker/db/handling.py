"""The handling records (assignments, internal notes) over the database, and the queue's
filters answered with one query over queue_items and handling.

An item's records all have one key, so they are on one partition in the order written:
its current assignment is its assign or unassign row with the highest offset.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from records import ReviewItem
from records.handling import ASSIGNMENT_KINDS, HandlingRecord
from records.verdict import Lane
from worker.db import Database
from worker.db.models import HandlingRow, QueueItemRow
from worker.handling.filters import UNASSIGNED, QueueFilter
from worker.read_views import ReviewReader

__all__ = ["DbHandlingView"]

CHUNK = 500
_KINDS = sorted(ASSIGNMENT_KINDS)


def _current() -> Any:
    """(item_id, assignee) of every item's last assign or unassign row."""
    last = (
        select(HandlingRow.item_id, func.max(HandlingRow.source_offset).label("offset"))
        .where(HandlingRow.kind.in_(_KINDS))
        .group_by(HandlingRow.item_id)
        .subquery()
    )
    return (
        select(HandlingRow.item_id, HandlingRow.assignee, HandlingRow.record)
        .join(
            last,
            and_(HandlingRow.item_id == last.c.item_id, HandlingRow.source_offset == last.c.offset),
        )
        .where(HandlingRow.kind.in_(_KINDS))
        .subquery()
    )


def _like_word(word: str) -> ColumnElement[bool]:
    """The space-separated labels column holds ``word`` (a category: letters and _)."""
    escaped = word.replace("_", "\\_")
    labels = QueueItemRow.labels
    return or_(
        labels == word,
        labels.like(f"{escaped} %", escape="\\"),
        labels.like(f"% {escaped}", escape="\\"),
        labels.like(f"% {escaped} %", escape="\\"),
    )


def _where(where: QueueFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = [QueueItemRow.status == "open"]
    if where.lane is not None:
        out.append(QueueItemRow.lane == where.lane)
    if where.channel is not None:
        out.append(QueueItemRow.record["comment"]["channel"].as_string() == where.channel)
    if where.label is not None:
        out.append(_like_word(where.label))
    if where.assignee:
        current = _current()
        assigned = select(current.c.item_id).where(current.c.assignee.is_not(None))
        if where.assignee == UNASSIGNED:
            out.append(QueueItemRow.id.not_in(assigned))
        else:
            named = select(current.c.item_id).where(current.c.assignee == where.assignee)
            out.append(QueueItemRow.id.in_(named))
    return out


class DbHandlingView:
    """``ctx.views.handling`` over the handling and queue_items tables."""

    def __init__(self, database: Database, review: ReviewReader) -> None:
        self.database = database
        self.review = review

    def _records(self, *where: ColumnElement[bool]) -> list[HandlingRecord]:
        query = (
            select(HandlingRow.record)
            .where(*where)
            .order_by(HandlingRow.source_partition, HandlingRow.source_offset)
        )
        with self.database.read() as session:
            return [HandlingRecord.model_validate(r) for r in session.scalars(query)]

    def assignment(self, item_id: str) -> HandlingRecord | None:
        return self.assignments([item_id]).get(item_id)

    def assignments(self, item_ids: Iterable[str]) -> dict[str, HandlingRecord]:
        listed = sorted(set(item_ids))
        current = _current()
        out: dict[str, HandlingRecord] = {}
        with self.database.read() as session:
            for start in range(0, len(listed), CHUNK):
                query = select(current.c.item_id, current.c.record).where(
                    current.c.item_id.in_(listed[start : start + CHUNK]),
                    current.c.assignee.is_not(None),
                )
                for item_id, record in session.execute(query).tuples():
                    out[item_id] = HandlingRecord.model_validate(record)
        return out

    def history(self, item_id: str) -> list[HandlingRecord]:
        return self._records(HandlingRow.item_id == item_id, HandlingRow.kind.in_(_KINDS))

    def notes(self, item_id: str) -> list[HandlingRecord]:
        return self._records(HandlingRow.item_id == item_id, HandlingRow.kind == "note")

    def record(self, record_id: str) -> HandlingRecord | None:
        with self.database.read() as session:
            row = session.get(HandlingRow, record_id)
            return HandlingRecord.model_validate(row.record) if row is not None else None

    def queue(self, lane: Lane, where: QueueFilter, limit: int) -> list[ReviewItem]:
        query = (
            select(QueueItemRow.id)
            .where(*_where(where), QueueItemRow.lane == lane)
            .order_by(QueueItemRow.sort_at, QueueItemRow.posted_at, QueueItemRow.id)
            .limit(limit)
        )
        with self.database.read() as session:
            ids = list(session.scalars(query))
        # The review view adds what depends on the moment (the author's record now).
        found = self.review.many(ids)
        return [found[i] for i in ids if i in found]

    def open_counts(self, where: QueueFilter) -> dict[str, int]:
        query = (
            select(QueueItemRow.lane, func.count())
            .where(*_where(where))
            .group_by(QueueItemRow.lane)
        )
        with self.database.read() as session:
            return {lane: int(count) for lane, count in session.execute(query).tuples()}

    def stamp(self) -> str:
        with self.database.read() as session:
            return str(session.scalar(select(func.count()).select_from(HandlingRow)) or 0)
