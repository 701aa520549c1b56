"""Record types shared by connectors, classifiers and the worker.

Plain JSON on the wire with a ``schema`` version field, so that a producer in any
language can write them. Each type validates on read; :func:`decode` turns bytes
into a record or raises :class:`InvalidRecord` with a reason fit for a dead letter.
"""

from records.codec import InvalidRecord, decode, encode
from records.comment import MAX_TEXT_CHARS, Author, Comment, CommentKind, Media
from records.deadletter import DeadLetter
from records.topics import Topics
from records.verdict import (
    CATEGORIES,
    Category,
    Lane,
    Reason,
    ReviewItem,
    Signals,
    TriageResult,
    Verdict,
)

__all__ = [
    "CATEGORIES",
    "MAX_TEXT_CHARS",
    "Author",
    "Category",
    "Comment",
    "CommentKind",
    "DeadLetter",
    "InvalidRecord",
    "Lane",
    "Media",
    "Reason",
    "ReviewItem",
    "Signals",
    "Topics",
    "TriageResult",
    "Verdict",
    "decode",
    "encode",
]
