"""What the officers' app reads of the handling records, whoever answers: the in-memory
state (worker/handling/state.py) or the database (worker/db/handling.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from records import ReviewItem
from records.handling import HandlingRecord
from records.verdict import Lane
from worker.handling.filters import QueueFilter

__all__ = ["HandlingReader"]


class HandlingReader(Protocol):
    def assignment(self, item_id: str) -> HandlingRecord | None:
        """The ``assign`` record the item is assigned by now, or None (no one)."""
        ...

    def assignments(self, item_ids: Iterable[str]) -> dict[str, HandlingRecord]:
        """Those of these items that are assigned, by id."""
        ...

    def history(self, item_id: str) -> list[HandlingRecord]:
        """Every assignment and unassignment of the item, oldest first."""
        ...

    def notes(self, item_id: str) -> list[HandlingRecord]:
        """The item's internal notes, oldest first (blanked for an erased author)."""
        ...

    def record(self, record_id: str) -> HandlingRecord | None:
        """The record first seen under this id, or None."""
        ...

    def queue(self, lane: Lane, where: QueueFilter, limit: int) -> list[ReviewItem]:
        """The lane's open items that pass the filter, in queue order, at most ``limit``."""
        ...

    def open_counts(self, where: QueueFilter) -> dict[str, int]:
        """Open items per lane that pass the filter."""
        ...

    def stamp(self) -> str:
        """Changes whenever a handling record is added."""
        ...
