"""The erasure list: one record per erased person on ``triage.erasures`` (key: author key).

The topic is compacted and never deleted by age, so the latest erasure of each person is
kept for as long as the topics that still hold their posts. The projector applies it on
every fold and every rebuild (worker/db/erasure.py); only ``triage erase`` writes it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from records.base import Record, UtcDatetime

__all__ = ["Erasure"]


class Erasure(Record):
    """A person's text and identifying fields are to be redacted wherever they are read."""

    schema_version: Literal[1] = Field(default=1, alias="schema")
    # ``platform:author_id``, as Comment.author_key.
    author_key: str = Field(min_length=3, max_length=250, pattern=r"^[a-z0-9_.-]+:.+$")
    erased_at: UtcDatetime
    # The admin account that asked for it, and why (a request reference, not the request).
    by: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=1000)
