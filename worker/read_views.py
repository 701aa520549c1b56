"""What the officers' app and API read, whoever answers: the in-memory views that each
worker folds from the topics (worker/moderation/review_view.py, worker/sla/view.py) or
the database's read side (worker/db/views.py), which `triage web` and the app served
by `triage run` use. Typed here so that the web handlers depend on neither.

The database's views answer by queries, which take time; :func:`off_loop` runs a
handler's reading in a worker thread when they are the ones installed, so that a slow
query holds up neither other requests nor the live updates. The in-memory views answer
at once and are changed by the agents on the event loop: they are read on the loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime
from typing import Any, ParamSpec, Protocol, TypeVar

from records import ReviewItem
from records.moderation import AuditRecord, AuthorLedger, Decision
from records.sla import Case, EmergencyChange
from records.verdict import Lane
from worker.sla import Rules
from worker.sla.emergency import EmergencyState
from worker.sla.policy import SlaPolicy

__all__ = [
    "MAX_PAGE",
    "AuditReader",
    "BadCursor",
    "Cursor",
    "Labelled",
    "LedgerReader",
    "Publish",
    "ReviewReader",
    "SlaReader",
    "cursor_of",
    "off_loop",
    "page_of",
    "read_cursor",
    "reads_database",
]

Publish = Callable[[EmergencyChange], Awaitable[None]]
# (comment key, when posted, labels) of one review item, for the reports.
Labelled = tuple[str, datetime, tuple[str, ...]]


# A place in the item list: after the item made at this moment with this id.
Cursor = tuple[datetime, str]
# The most items one page of the API's item list holds (GET /api/review?limit=).
MAX_PAGE = 500


P = ParamSpec("P")
T = TypeVar("T")


def reads_database(views: object) -> bool:
    """Whether the views installed (``ctx.views``) are the database's."""
    return any(getattr(getattr(views, name, None), "blocking", False) for name in ("review", "sla"))


async def off_loop(views: object, read: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``read(*args, **kwargs)``, a function that reads ``views`` (``ctx.views``): in a
    worker thread when they are the database's, on the loop when they are in memory."""
    if reads_database(views):
        return await asyncio.to_thread(read, *args, **kwargs)
    return read(*args, **kwargs)


class BadCursor(ValueError):
    """A page cursor that this server did not write."""


def cursor_of(item: ReviewItem) -> str:
    """The opaque cursor of the page after ``item`` (URL-safe)."""
    raw = f"{item.created_at.isoformat()}|{item.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(text: str) -> Cursor:
    """The place a cursor from :func:`cursor_of` names; BadCursor if it names none."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at, sep, item_id = raw.partition("|")
        made = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("not a cursor from this list") from None
    if not sep or not item_id or made.tzinfo is None:
        raise BadCursor("not a cursor from this list")
    return made, item_id


def page_of(items: Iterable[ReviewItem], after: Cursor | None, limit: int) -> list[ReviewItem]:
    """The first ``limit`` of ``items`` after the cursor, in the order they were made
    (then by id): how an in-memory view pages what the database's pages by query."""
    ordered = sorted(items, key=lambda i: (i.created_at, i.id))
    if after is not None:
        ordered = [i for i in ordered if (i.created_at, i.id) > after]
    return ordered[:limit]


class ReviewReader(Protocol):
    def items(self, lane: Lane | None = None, status: str | None = "open") -> list[ReviewItem]:
        """Every item of the lane (all lanes for None) with this status (any for None)."""
        ...

    def get(self, item_id: str) -> ReviewItem | None: ...

    def page(
        self, lane: Lane | None, status: str | None, after: Cursor | None, limit: int
    ) -> list[ReviewItem]:
        """At most ``limit`` items of the lane and status (None: all) made after the
        cursor's item, oldest first (then by id), as :func:`page_of` orders them."""
        ...

    def many(self, item_ids: Iterable[str]) -> dict[str, ReviewItem]:
        """Those of these items that exist, by id."""
        ...

    def decisions(self, item_id: str) -> list[Decision]: ...

    def decision(self, decision_id: str) -> Decision | None: ...

    def queue(self, lane: Lane, limit: int) -> list[ReviewItem]:
        """The lane's open items in queue order, at most ``limit``."""
        ...

    def open_counts(self) -> dict[str, int]: ...

    def stamp(self) -> str:
        """Changes whenever an item, its decisions or its case change."""
        ...

    def open_for_author(self, author_key: str) -> list[ReviewItem]: ...

    def posted_between(self, start: datetime, end: datetime) -> list[ReviewItem]: ...

    def labelled_between(self, start: datetime, end: datetime) -> list[Labelled]:
        """The labels of every item with a verdict whose comment was posted in the period."""
        ...


class LedgerReader(Protocol):
    def get(self, author_key: str) -> AuthorLedger | None: ...

    def many(self, author_keys: Iterable[str]) -> dict[str, AuthorLedger]:
        """Those of these authors that have a record, by author key."""
        ...

    def authors(self) -> list[AuthorLedger]: ...

    def blocks(self, appealable: bool | None = None) -> list[AuthorLedger]: ...


class AuditReader(Protocol):
    def has(self, record_id: str) -> bool: ...

    def records(
        self,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        author: str | None = None,
    ) -> list[AuditRecord]: ...


class SlaReader(Protocol):
    policy: SlaPolicy
    publish_emergency: Publish | None

    @property
    def emergency(self) -> EmergencyState: ...

    @property
    def rules(self) -> Rules: ...

    def cases(self) -> list[Case]: ...

    def cases_received(self, start: datetime, end: datetime | None = None) -> list[Case]:
        """Cases received from ``start`` (up to ``end``), oldest first."""
        ...

    def get(self, case_id: str) -> Case | None: ...

    def open_cases(self, limit: int | None = None) -> list[Case]: ...

    def breached(self, case: Case, now: datetime) -> bool: ...

    def counts(self, now: datetime) -> dict[str, int]: ...

    def emergency_state(self) -> dict[str, Any]: ...
