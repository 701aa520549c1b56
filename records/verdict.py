"""What the classifier says about a comment, and the records triage writes."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from records.base import Record, UtcDatetime
from records.comment import Comment

__all__ = [
    "CATEGORIES",
    "LANES",
    "AuthorHistory",
    "Category",
    "Lane",
    "Reason",
    "ReviewItem",
    "Signals",
    "TriageResult",
    "Verdict",
]

Category = Literal["service_request", "abusive", "misinformation", "spam"]
CATEGORIES: tuple[Category, ...] = ("service_request", "abusive", "misinformation", "spam")

Lane = Literal["urgent", "moderation", "response"]
LANES: tuple[Lane, ...] = ("urgent", "response", "moderation")


class Reason(BaseModel):
    """Why a label or lane was given: a code, the policy clause, the evidence."""

    model_config = ConfigDict(frozen=True)

    code: str
    clause: str
    evidence: str = ""
    category: Category | None = None


class Signals(BaseModel):
    """Evidence beyond the four scores. Personal data is named by kind, never quoted."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    toxicity: dict[str, float] = Field(default_factory=dict)
    personal_data: tuple[str, ...] = ()
    urgent: tuple[str, ...] = ()
    threats: tuple[str, ...] = ()
    links: int = 0
    shorteners: int = 0
    spam_markers: tuple[str, ...] = ()


class Verdict(Record):
    """Labels, calibrated scores, the evidence and the policy's next steps for one text."""

    schema_version: Literal[1] = Field(default=1, alias="schema")
    labels: tuple[Category, ...] = ()
    scores: dict[Category, float]
    signals: Signals = Signals()
    reasons: tuple[Reason, ...] = ()
    lane: Lane | None = None
    # Every lane that applies, most pressing first (``lane`` is the first of them):
    # an abusive pothole report needs both moderation and a reply.
    lanes: tuple[Lane, ...] = ()
    actions: tuple[str, ...] = ()
    model: dict[str, str] = Field(default_factory=dict)
    # Not labelled a service request, but it may be one (a direct message, or a score
    # over the recall-first cut): a reply deadline runs until an officer says otherwise.
    possible_query: bool = False


class TriageResult(Record):
    """A comment with its verdict, on ``triage.verdicts``.

    The council's own replies pass through with ``verdict`` null: reply tracking
    reads them from here, in order with the residents' posts of the same thread.
    """

    schema_version: Literal[1] = Field(default=1, alias="schema")
    comment: Comment
    verdict: Verdict | None
    classified_at: UtcDatetime


class AuthorHistory(BaseModel):
    """A summary of an author's record, shown on a moderation item."""

    model_config = ConfigDict(frozen=True)

    strikes: int = 0
    strikes_in_window: int = 0
    last_strike_at: UtcDatetime | None = None
    warnings: int = 0
    blocked: bool = False
    appealable_from: date | None = None
    banned_channels: tuple[str, ...] = ()
    police_reports: int = 0


class ReviewItem(Record):
    """Something an officer should look at, on ``triage.review``."""

    schema_version: Literal[1] = Field(default=1, alias="schema")
    id: str
    lane: Lane
    status: Literal["open", "closed"] = "open"
    comment: Comment
    verdict: Verdict | None = None
    created_at: UtcDatetime
    due_at: UtcDatetime | None = None
    note: str = ""
    # Moderation (worker/moderation): the author's record and the next step under the
    # policy, and the decisions applied so far (the last one that closed the item).
    history: AuthorHistory | None = None
    recommended: tuple[str, ...] = ()
    recommendation: str = ""
    outcome: str | None = None
    decided_by: str | None = None
    decided_at: UtcDatetime | None = None
