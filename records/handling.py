"""Officers' handling of a review item: who it is assigned to, and their internal notes.

``triage.handling`` carries :class:`HandlingRecord` (key: review item id), written by the
officers' app and API only. An item's records stay in the order written (one key, one
partition), so its assignment is the last ``assign`` or ``unassign`` read, and the
records before it are the history of who assigned whom and when. Notes are for officers:
they are never sent to the resident, but they may quote the person, so they are part of
a subject access export and are blanked on erasure.
"""

from __future__ import annotations

import hashlib
from typing import Literal, get_args

from pydantic import Field

from records.base import Record, UtcDatetime
from records.verdict import Lane

__all__ = [
    "ASSIGNMENT_KINDS",
    "HANDLING_KINDS",
    "NAME_PATTERN",
    "HandlingKind",
    "HandlingRecord",
    "handling_id",
]

HandlingKind = Literal["assign", "unassign", "note"]
HANDLING_KINDS: tuple[HandlingKind, ...] = get_args(HandlingKind)
ASSIGNMENT_KINDS: frozenset[HandlingKind] = frozenset({"assign", "unassign"})
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


class HandlingRecord(Record):
    """An assignment, an unassignment or an internal note on one review item."""

    schema_version: Literal[1] = Field(default=1, alias="schema")
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: HandlingKind
    item_id: str = Field(min_length=1, max_length=200)
    lane: Lane
    # Who assigned, unassigned or wrote the note, and when.
    by: str = Field(min_length=1, max_length=100)
    at: UtcDatetime
    # Whom the item is assigned to (``assign`` only).
    assignee: str | None = Field(default=None, pattern=NAME_PATTERN)
    # The note's text (``note`` only): officers only, never sent.
    text: str = Field(default="", max_length=2000)
    # The item's author, so that erasure and subject access find the notes.
    author_key: str = ""


def handling_id(by: str, key: str) -> str:
    """A handling record's id: ``h-`` and the first 32 hex digits of the SHA-256 of the
    user's name and the request's key (the client's retry key, or one the server made
    for the click) joined by the unit separator, so a retried request is one record."""
    digest = hashlib.sha256(f"{by}\x1f{key}".encode()).hexdigest()
    return f"h-{digest[:32]}"
