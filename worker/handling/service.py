"""Checking and writing an assignment or an internal note.

Any officer may assign an open item to themselves or to another officer (an account of
officer role or above), or take the assignment off; any officer may write a note on any
item, open or closed. The record's id is made from the user's name and a key (the API
caller's retry key, or a fresh one per click from the page), so a retried request is one
record: the same id with other content is refused with 409.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import structlog

from records.handling import NAME_PATTERN, HandlingKind, HandlingRecord, handling_id
from records.verdict import ReviewItem
from worker.context import WorkerContext
from worker.users import User

__all__ = ["KEY_PATTERN_TEXT", "HandlingRefused", "Submitted", "new_key", "submit"]

log = structlog.get_logger(__name__)

KEY_PATTERN_TEXT = "1-100 letters, digits or . _ : - characters"
_CONTENT = ("kind", "item_id", "by", "assignee", "text")


class HandlingRefused(Exception):
    """The request cannot be taken; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Submitted:
    record: HandlingRecord
    repeat: bool


def new_key() -> str:
    """A key for one click (each rendering of a form holds its own)."""
    return secrets.token_urlsafe(12)


_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_NAME = re.compile(NAME_PATTERN)


def _check_key(key: str) -> None:
    if not _KEY.match(key):
        raise HandlingRefused(422, f"'id' is a retry key of {KEY_PATTERN_TEXT}")


def _assignee(ctx: WorkerContext, name: str) -> str:
    store = ctx.views.users
    account = store.get(name) if store is not None and _NAME.match(name) else None
    if account is None:
        raise HandlingRefused(422, f"there is no officer called {name!r}")
    if not account.at_least("officer"):
        raise HandlingRefused(422, f"{name} has the {account.role} role and cannot take items")
    return account.name


async def submit(
    ctx: WorkerContext,
    user: User,
    item: ReviewItem | None,
    kind: HandlingKind,
    *,
    key: str,
    assignee: str | None = None,
    text: str = "",
) -> Submitted:
    """Checks the request, writes its record to triage.handling and waits for the broker;
    raises HandlingRefused."""
    if not user.at_least("officer"):
        raise HandlingRefused(403, f"this needs the officer role (you are {user.role})")
    if item is None:
        raise HandlingRefused(404, "no such review item")
    sink, reader = ctx.views.handling_sink, ctx.views.handling
    if sink is None or reader is None:
        raise HandlingRefused(503, "assignment and notes are not running in this app")
    _check_key(key)
    if kind == "note":
        text = text.strip()
        if not text:
            raise HandlingRefused(422, "write the note")
        if len(text) > 2000:
            raise HandlingRefused(422, "a note is at most 2,000 characters")
    elif item.status != "open":
        raise HandlingRefused(409, "the item is closed: there is nothing to assign")
    if kind == "assign":
        assignee = _assignee(ctx, assignee or "")
    record = HandlingRecord(
        id=handling_id(user.name, key),
        kind=kind,
        item_id=item.id,
        lane=item.lane,
        by=user.name,
        at=ctx.clock.now(),
        assignee=assignee if kind == "assign" else None,
        text=text if kind == "note" else "",
        author_key=item.comment.author_key,
    )
    known = reader.record(record.id)
    if known is not None:
        if all(getattr(known, f) == getattr(record, f) for f in _CONTENT):
            return Submitted(known, repeat=True)
        raise HandlingRefused(409, "this id was used for another request")
    await sink(record)
    log.info("handling recorded", item_id=item.id, kind=kind, by=user.name)
    return Submitted(record, repeat=False)
