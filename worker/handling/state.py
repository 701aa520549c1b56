"""The handling records folded in memory, and the queue's filters answered over the
in-memory review view (the database answers the same in worker/db/handling.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from records import ReviewItem
from records.handling import ASSIGNMENT_KINDS, HandlingRecord
from records.verdict import Lane
from worker.handling.filters import QueueFilter
from worker.moderation.review_view import queue_key
from worker.read_views import ReviewReader

__all__ = ["HandlingState", "HandlingView", "redact_note"]

ERASED = "[erased]"


def redact_note(record: HandlingRecord) -> HandlingRecord:
    """A note with its text blanked (its author is erased); other records are kept."""
    if record.kind != "note" or not record.text:
        return record
    return record.model_copy(update={"text": ERASED})


@dataclass
class HandlingState:
    """Every handling record by item, in the order read; the first under an id counts."""

    by_item: dict[str, list[HandlingRecord]] = field(default_factory=dict)
    by_id: dict[str, HandlingRecord] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)
    version: int = 0

    def add(self, record: HandlingRecord) -> None:
        if record.id in self.by_id:
            return
        if record.author_key in self.erased:
            record = redact_note(record)
        self.by_id[record.id] = record
        self.by_item.setdefault(record.item_id, []).append(record)
        self.version += 1

    def erase(self, author_key: str) -> None:
        """Blanks the notes on this author's items, now and when they arrive later."""
        self.erased.add(author_key)
        for records in self.by_item.values():
            for index, record in enumerate(records):
                if record.author_key == author_key:
                    records[index] = self.by_id[record.id] = redact_note(record)
        self.version += 1

    def current(self, item_id: str) -> HandlingRecord | None:
        for record in reversed(self.by_item.get(item_id, ())):
            if record.kind in ASSIGNMENT_KINDS:
                return record if record.kind == "assign" else None
        return None


class HandlingView:
    """``ctx.views.handling`` over a :class:`HandlingState` and the in-memory review view."""

    def __init__(self, state: HandlingState, review: ReviewReader) -> None:
        self._state = state
        self._review = review

    def assignment(self, item_id: str) -> HandlingRecord | None:
        return self._state.current(item_id)

    def assignments(self, item_ids: Iterable[str]) -> dict[str, HandlingRecord]:
        found = {i: self._state.current(i) for i in item_ids}
        return {i: record for i, record in found.items() if record is not None}

    def history(self, item_id: str) -> list[HandlingRecord]:
        records = self._state.by_item.get(item_id, ())
        return [r for r in records if r.kind in ASSIGNMENT_KINDS]

    def notes(self, item_id: str) -> list[HandlingRecord]:
        return [r for r in self._state.by_item.get(item_id, ()) if r.kind == "note"]

    def record(self, record_id: str) -> HandlingRecord | None:
        return self._state.by_id.get(record_id)

    def _passing(self, lane: Lane | None, where: QueueFilter) -> list[ReviewItem]:
        out = []
        for item in self._review.items(lane=lane):
            current = self._state.current(item.id)
            if where.matches(item, current.assignee if current else None):
                out.append(item)
        return out

    def queue(self, lane: Lane, where: QueueFilter, limit: int) -> list[ReviewItem]:
        return sorted(self._passing(lane, where), key=queue_key)[:limit]

    def open_counts(self, where: QueueFilter) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self._passing(where.lane, where):
            counts[item.lane] = counts.get(item.lane, 0) + 1
        return counts

    def stamp(self) -> str:
        return str(self._state.version)
