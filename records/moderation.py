"""The moderation records: officers' decisions, the policy's audit record, the author
ledger built from it, and labelled examples for training.

``triage.decisions`` carries :class:`Decision` (key: review item id), ``triage.audit``
carries :class:`AuditRecord` (key: author key ``platform:author_id``) and
``triage.labels`` carries :class:`LabelExample` (key: comment key) and
``triage.moderation`` carries :class:`ItemModeration` (key: review item id). The
:class:`AuthorLedger` is not on a topic of its own: every worker folds it from the
audit records, so the record the policy asks for is also the single source of the
author's history.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from records.base import Record, UtcDatetime
from records.verdict import AuthorHistory, Category, Lane, Reason

__all__ = [
    "ACTIONS",
    "CLOSING_ACTIONS",
    "REPLY_ACTIONS",
    "ROLES",
    "Action",
    "AuditRecord",
    "AuthorLedger",
    "Block",
    "Decision",
    "ItemModeration",
    "LabelExample",
    "LedgerEntry",
    "Role",
    "Strike",
    "role_at_least",
]

Action = Literal[
    "dismiss",
    "hide",
    "delete",
    "warn",
    "recommend_block",
    "block",
    "unblock",
    "report_police",
    "ban_from_channel",
    "relabel",
    "replied",
    "no_reply_needed",
    "moved_private",
]
ACTIONS: tuple[Action, ...] = get_args(Action)
# The response lane's decisions: each ends the wait for a reply, closing the SLA case
# (docs/sla.md) as well as the review item.
REPLY_ACTIONS: frozenset[Action] = frozenset({"replied", "no_reply_needed", "moved_private"})
# The decisions about the post itself: each closes its review item, and a second one on a
# closed item is refused (docs/moderation.md). Steps about the author do not close it.
CLOSING_ACTIONS: frozenset[Action] = REPLY_ACTIONS | {
    "dismiss",
    "hide",
    "delete",
    "ban_from_channel",
}

Role = Literal["viewer", "officer", "manager", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)


def role_at_least(role: Role, needed: Role) -> bool:
    """Whether ``role`` ranks at or above ``needed`` (ROLES runs from least to most)."""
    return ROLES.index(role) >= ROLES.index(needed)


class Decision(Record):
    """An officer's decision about one review item, on ``triage.decisions``.

    ``id`` is deterministic for a given officer, item and action, so a decision sent
    twice (a double click, a retry) is applied once.
    """

    schema_version: Literal[1] = Field(default=1, alias="schema")
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    item_id: str = Field(min_length=1, max_length=200)
    lane: Lane
    action: Action
    by: str = Field(min_length=1, max_length=100)
    role: Role
    decided_at: UtcDatetime
    note: str = Field(default="", max_length=2000)
    # A police reference (report_police) or any other external reference.
    reference: str | None = Field(default=None, max_length=200)
    # The corrected labels (relabel; optional on other actions).
    labels: tuple[Category, ...] | None = None
    # Who approved an unblock for the Managing Director (and how: a note or reference).
    approved_by: str | None = Field(default=None, max_length=200)
    # Keys of the item's comment, so that consumers need not look the item up.
    comment_key: str = ""
    conversation_key: str = ""
    author_key: str = ""


class AuditRecord(Record):
    """The policy's record of an unacceptable post and what was done, on ``triage.audit``.

    Append-only. ``id`` equals the decision id that caused it (or ``auto:...`` for an
    automatic action), so a record written twice is recognised as one.
    """

    schema_version: Literal[1] = Field(default=1, alias="schema")
    id: str
    decision_id: str
    item_id: str
    author_key: str
    platform: str
    author_id: str
    account_name: str | None = None
    account_handle: str | None = None
    channel: str
    comment_key: str
    posted_at: UtcDatetime
    text: str
    url: str | None = None
    # The connector that brought the comment in (Comment.connector): the actions connector
    # acts only where it matches the platform it would call.
    connector: str | None = None
    categories: tuple[Category, ...] = ()
    reasons: tuple[Reason, ...] = ()
    action: Action
    automatic: bool = False
    decided_by: str
    decided_at: UtcDatetime
    note: str = ""
    reference: str | None = None
    approved_by: str | None = None
    # For a block: the first day on which the account may appeal.
    appealable_from: date | None = None
    # Set when this record reports something extreme (threat, severe abuse).
    extreme: bool = False


class Strike(BaseModel):
    """One post confirmed as unacceptable."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    comment_key: str
    posted_at: UtcDatetime
    recorded_at: UtcDatetime
    categories: tuple[Category, ...] = ()
    reasons: tuple[str, ...] = ()
    extreme: bool = False


class LedgerEntry(BaseModel):
    """A dated step about the author (warning, block, ban, police report, ...)."""

    model_config = ConfigDict(frozen=True)

    action: Action
    at: UtcDatetime
    by: str
    item_id: str
    decision_id: str
    channel: str | None = None
    reference: str | None = None
    note: str = ""


class Block(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: UtcDatetime
    by: str
    item_id: str
    decision_id: str
    appealable_from: date
    lifted_at: UtcDatetime | None = None
    lifted_by: str | None = None
    approved_by: str | None = None

    @property
    def active(self) -> bool:
        return self.lifted_at is None


class AuthorLedger(BaseModel):
    """An author's history under the policy, folded from their audit records."""

    model_config = ConfigDict(frozen=True)

    author_key: str
    platform: str
    author_id: str
    account_name: str | None = None
    account_handle: str | None = None
    strikes: tuple[Strike, ...] = ()
    warnings: tuple[LedgerEntry, ...] = ()
    block_recommendations: tuple[LedgerEntry, ...] = ()
    blocks: tuple[Block, ...] = ()
    channel_bans: tuple[LedgerEntry, ...] = ()
    police_reports: tuple[LedgerEntry, ...] = ()
    decision_ids: frozenset[str] = frozenset()

    @property
    def active_block(self) -> Block | None:
        return next((b for b in reversed(self.blocks) if b.active), None)

    @property
    def banned_channels(self) -> tuple[str, ...]:
        return tuple(sorted({e.channel for e in self.channel_bans if e.channel}))


class LabelExample(Record):
    """A text with the labels an officer confirmed or corrected, on ``triage.labels``.

    ``triage train --labels FILE`` reads these (as JSON Lines of ``text`` and ``labels``).
    """

    schema_version: Literal[1] = Field(default=1, alias="schema")
    id: str
    comment_key: str
    text: str
    labels: tuple[Category, ...]
    # What the classifier said, so that corrections can be counted.
    predicted: tuple[Category, ...] = ()
    source: Literal["confirmed", "corrected"]
    decision_id: str
    decided_by: str
    decided_at: UtcDatetime


class ItemModeration(Record):
    """The moderation agent's part of one review item, on ``triage.moderation``.

    Keyed and compacted by review item id; ``triage.review`` keeps the item as triage made
    it, and the review view lays this over it. ``status`` closed is final: the agent never
    writes an open record for an item it has closed, so the latest record of a closed item
    stays closed whatever is replayed.
    """

    schema_version: Literal[1] = Field(default=1, alias="schema")
    item_id: str
    status: Literal["open", "closed"] = "open"
    # The author's record and the next step under the policy, when the item was read.
    history: AuthorHistory | None = None
    recommended: tuple[str, ...] = ()
    recommendation: str = ""
    # The decision that closed the item.
    outcome: str | None = None
    decided_by: str | None = None
    decided_at: UtcDatetime | None = None
    decision_id: str | None = None
    updated_at: UtcDatetime
