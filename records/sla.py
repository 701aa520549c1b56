"""Reply tracking records: the SLA case, alerts, and emergency-mode switches.

``triage.cases`` carries :class:`Case` (key: conversation key; the latest version per
case id is its state), ``triage.alerts`` carries :class:`Alert` (key: alert id) and
``triage.emergency`` carries :class:`EmergencyChange` (key: change id; the whole log
is the history of emergency mode, read from the start by every worker).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from records.base import Record, UtcDatetime
from records.comment import Comment
from records.verdict import Verdict

__all__ = [
    "Alert",
    "AlertValue",
    "BlockNotice",
    "Case",
    "CaseStatus",
    "CloseReason",
    "EmergencyChange",
    "NoticePost",
    "Severity",
    "asks_for_reply",
]

CaseStatus = Literal["open", "closed"]
# A council reply in the thread, or one of records.moderation.REPLY_ACTIONS.
CloseReason = Literal["council_reply", "replied", "no_reply_needed", "moved_private"]

Severity = Literal["info", "warning", "critical"]
AlertValue = str | int | float | bool | None


def asks_for_reply(comment: Comment, verdict: Verdict | None) -> bool:
    """Whether a resident's comment opens a case (is owed a reply by the deadline).

    Fail safe: every direct message, and every comment that may be a query, is owed one;
    an officer's "No reply needed" closes the ones that were not. Triage writes a
    response-lane review item for each such comment, and the SLA part opens its case.
    """
    if comment.author.is_council:
        return False
    if comment.kind == "direct_message":
        return True
    return verdict is not None and ("service_request" in verdict.labels or verdict.possible_query)


class Case(Record):
    """One response owed in a conversation: when it was asked, when due, how it ended.

    A conversation may hold several cases in turn (a resident's follow-up after the
    council's reply opens the next one); ``number`` counts them from 1.
    """

    schema_version: Literal[1] = Field(default=1, alias="schema")
    id: str
    conversation_key: str
    number: int = Field(ge=1)
    platform: str
    channel: str
    status: CaseStatus
    # The comment that opened the case, its author and its response-lane review item.
    opened_by: str
    author_key: str
    item_id: str
    received_at: UtcDatetime
    # None while emergency mode has stopped the reply clock with no end yet.
    due_at: UtcDatetime | None
    target_hours: float
    out_of_hours: bool = False
    emergency: bool = False
    suggested_reply: str | None = None
    closed_at: UtcDatetime | None = None
    closed_by: CloseReason | None = None
    # The officer who recorded the decision that closed it (None for a council reply).
    closed_by_officer: str | None = None
    # Working hours from received to closed (the figure the promise is measured by).
    response_hours: float | None = None
    at_risk_alerted: bool = False
    breach_alerted: bool = False

    @property
    def met_target(self) -> bool | None:
        if self.response_hours is None:
            return None
        return self.response_hours <= self.target_hours + 1e-9


class NoticePost(BaseModel):
    """One post behind a block, as the policy's audit record holds it."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    channel: str
    posted_at: UtcDatetime
    # Cut to a length a notice can carry; the audit record keeps the whole text.
    text: str = Field(max_length=1100)
    url: str | None = None
    categories: tuple[str, ...] = ()
    # The policy clauses it was judged against, in words.
    reasons: tuple[str, ...] = ()


class BlockNotice(BaseModel):
    """What the policy asks the Managing Director be told of a block or its lifting:
    the account's name and handle, its posts, why, who decided, and the appeal date."""

    model_config = ConfigDict(frozen=True)

    platform: str
    account_name: str | None = None
    account_handle: str | None = None
    # The posts officers found unacceptable (the ledger's strikes), newest last; a block
    # carries at most the latest ten, ``posts_total`` says how many there are.
    posts: tuple[NoticePost, ...] = Field(default=(), max_length=10)
    posts_total: int = Field(default=0, ge=0)
    reasons: tuple[str, ...] = ()
    decided_by: str
    decided_at: UtcDatetime
    approved_by: str | None = None
    note: str = Field(default="", max_length=2000)
    appealable_from: date | None = None


class Alert(Record):
    """Something a person should know now: an SLA deadline, a block for the Managing Director.

    ``id`` is deterministic for what it reports (for SLA alerts: case id and kind), so an
    alert sent again after a crash can be recognised as the same one.

    Only ``notice`` may hold personal data, and only block and unblock alerts have one:
    the notifier shows it to the Managing Director alone.
    """

    schema_version: Literal[1] = Field(default=1, alias="schema")
    id: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9_.-]+$")
    severity: Severity
    # The key of what it is about: a conversation key, an author key, an item id.
    subject: str = Field(max_length=400)
    # Plain words for a person; never the comment's text or the author's name.
    message: str = Field(max_length=2000)
    created_at: UtcDatetime
    data: dict[str, AlertValue] = Field(default_factory=dict)
    notice: BlockNotice | None = None


class EmergencyChange(Record):
    """An operator switching emergency mode on or off, with who, when and why."""

    schema_version: Literal[1] = Field(default=1, alias="schema")
    id: str = Field(min_length=1, max_length=100)
    active: bool
    by: str = Field(min_length=1, max_length=100)
    reason: str = Field(default="", max_length=1000)
    at: UtcDatetime
