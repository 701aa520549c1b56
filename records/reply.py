"""Replies sent from the tool: the request an officer makes, and what became of it.

Two topics, one writer each:

- ``triage.reply-requests`` (the officers' app and API): a :class:`ReplyRequest` when an
  officer sends a reply, and the same request again with ``approved_by`` set when a
  manager approves one that needs it (the written warning);
- ``triage.reply-outcomes`` (``triage connect actions``): a :class:`ReplyOutcome` before
  the platform is asked (``sending``) and once it answered (``sent`` or ``failed``).

Both are keyed by the reply id. The id is made by the server from the signed-in user's
name and a key: the key the item page rendered into its form, or the API caller's own
retry key (:func:`reply_id`), so a retried request is one reply and two clicks are two.

The policy file's ``replying`` section (:class:`ReplyingPolicy`) switches the feature on
and holds the saved replies that the other sections do not already hold. It lives here
because the worker and the connectors both read it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from records.base import Record, UtcDatetime
from records.comment import MAX_TEXT_CHARS
from records.ids import keyed_decision_id
from records.moderation import Decision
from records.policy import invalid, read_policy

__all__ = [
    "APPROVAL_NEEDED",
    "KEY_PATTERN",
    "PRIVATE_TEMPLATES",
    "TEMPLATES",
    "ReplyOutcome",
    "ReplyRequest",
    "ReplyStatus",
    "ReplyTemplate",
    "ReplyingPolicy",
    "load_replying_policy",
    "replies_enabled",
    "reply_id",
    "warning_decision",
]

ReplyTemplate = Literal[
    "acknowledgement",
    "private_channel",
    "emergency_contacts",
    "out_of_hours",
    "emergency",
    "warning",
]
TEMPLATES: tuple[ReplyTemplate, ...] = (
    "acknowledgement",
    "private_channel",
    "emergency_contacts",
    "out_of_hours",
    "emergency",
    "warning",
)
# The policy asks for a written warning to be agreed with the Communications Manager.
APPROVAL_NEEDED: frozenset[str] = frozenset({"warning"})
# The written warning goes by private message, as the policy says it usually should.
PRIVATE_TEMPLATES: frozenset[str] = frozenset({"warning"})
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")

ReplyStatus = Literal["sending", "sent", "failed"]


def reply_id(by: str, key: str) -> str:
    """``r-`` and the first 32 hex digits of the SHA-256 of the user's name and the key
    joined by the unit separator: the same user and key give the same reply, and no one
    can reach the id another user's key gives (user names cannot hold the separator)."""
    digest = hashlib.sha256(f"{by}\x1f{key}".encode()).hexdigest()
    return f"r-{digest[:32]}"


class ReplyRequest(Record):
    """An officer's reply to one review item's post, on ``triage.reply-requests``."""

    schema_version: Literal[1] = Field(default=1, alias="schema")
    id: str = Field(min_length=1, max_length=100)
    item_id: str = Field(min_length=1, max_length=200)
    # The post answered: its platform-wide key, and where it lives.
    comment_key: str = Field(min_length=1, max_length=250)
    platform: str = Field(min_length=1, max_length=40)
    channel: str = Field(min_length=1, max_length=200)
    thread_id: str = Field(min_length=1, max_length=200)
    # Which connector brought the post (only that platform's own is trusted to answer it).
    connector: str | None = Field(default=None, max_length=40)
    author_id: str = Field(min_length=1, max_length=200)
    author_handle: str | None = Field(default=None, max_length=200)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    template: ReplyTemplate | None = None
    # A private message to the author rather than a public reply under the post.
    private: bool = False
    requested_by: str = Field(min_length=1, max_length=200)
    requested_at: UtcDatetime
    needs_approval: bool = False
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: UtcDatetime | None = None

    @property
    def conversation_key(self) -> str:
        return f"{self.platform}:{self.thread_id}"

    @property
    def native_id(self) -> str:
        """The post's id on its platform (the comment key without its platform)."""
        return self.comment_key.removeprefix(f"{self.platform}:")

    @property
    def ready(self) -> bool:
        """Whether it may be sent: approved, or needing no approval."""
        return not self.needs_approval or self.approved_by is not None


class ReplyOutcome(Record):
    """What became of one reply, on ``triage.reply-outcomes``: who sent what, and where."""

    schema_version: Literal[1] = Field(default=1, alias="schema")
    reply_id: str = Field(min_length=1, max_length=100)
    item_id: str = Field(min_length=1, max_length=200)
    comment_key: str = Field(min_length=1, max_length=250)
    platform: str = Field(min_length=1, max_length=40)
    status: ReplyStatus
    # The platform's id of the reply or message, once sent.
    posted_id: str | None = Field(default=None, max_length=200)
    # Why it failed (names the platform and status, never the post).
    reason: str = Field(default="", max_length=1000)
    text: str = Field(max_length=MAX_TEXT_CHARS)
    private: bool = False
    requested_by: str = Field(min_length=1, max_length=200)
    approved_by: str | None = Field(default=None, max_length=200)
    at: UtcDatetime


class ReplyingPolicy(BaseModel):
    """The policy file's ``replying`` section: the switch, and three saved replies (the
    out-of-hours and emergency ones are under ``replies``, the warning under ``messages``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    acknowledgement: str = Field(
        default=(
            "Thank you for your message. We have passed it to the right team and will "
            "come back to you within one working day."
        ),
        min_length=1,
        max_length=MAX_TEXT_CHARS,
    )
    private_channel: str = Field(
        default=(
            "Thank you for getting in touch. So that we can look after your details "
            "properly, please send us a private message or contact us through our website "
            "rather than posting them here."
        ),
        min_length=1,
        max_length=MAX_TEXT_CHARS,
    )
    emergency_contacts: str = Field(
        default=(
            "If someone is in danger, call 999. For an emergency outside office hours, "
            "please use the emergency contact numbers on our website; this account is not "
            "watched all the time."
        ),
        min_length=1,
        max_length=MAX_TEXT_CHARS,
    )


def _section(document: dict[str, Any], source: str) -> ReplyingPolicy:
    raw = document.get("replying")
    try:
        return ReplyingPolicy.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise invalid(source, exc, prefix=("replying",)) from None


def load_replying_policy(path: Path) -> ReplyingPolicy:
    """The ``replying`` section (its defaults when absent); PolicyError names the key."""
    return _section(read_policy(path), f"policy file {path}")


def replies_enabled(policy: ReplyingPolicy, override: bool | None) -> bool:
    """``TRIAGE_REPLIES_ENABLED`` when set, else the policy's ``replying.enabled``."""
    return policy.enabled if override is None else override


def warning_decision(request: ReplyRequest, at: datetime) -> Decision | None:
    """The "warn" decision a sent written warning stands for, so that the author's ledger
    counts it as the policy asks; None for any other reply. Its id comes from the reply's,
    so writing it again after a crash is the same decision. The manager who approved the
    warning made the decision (a warning needs one's approval); a written warning is a
    moderation step."""
    if request.template != "warning" or request.approved_by is None:
        return None
    return Decision(
        id=keyed_decision_id(request.approved_by, f"reply-warning:{request.id}"),
        item_id=request.item_id,
        lane="moderation",
        action="warn",
        by=request.approved_by,
        role="manager",
        decided_at=at,
        note=f"Written warning sent from the tool (asked for by {request.requested_by}).",
        approved_by=request.approved_by,
        comment_key=request.comment_key,
        conversation_key=request.conversation_key,
        author_key=f"{request.platform}:{request.author_id}",
    )
