"""The tables, as typed SQLAlchemy 2 models.

Accounts, their API tokens and the sign-in attempts are primary state: they live only
here, not on a topic, so they are backed up with the database (docs/operators.md). The
tables after them are the read side, folded from the topics and rebuilt from them at will.
A change to these models needs a migration in migrations/versions/.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "NAMING",
    "Account",
    "AlertRow",
    "ApiToken",
    "AuditRow",
    "Base",
    "CaseRow",
    "CommentRow",
    "DecisionRow",
    "EmergencyRow",
    "ErasureRow",
    "HandlingRow",
    "LedgerRow",
    "LegacyImport",
    "ModerationRow",
    "PresenceRow",
    "PrivacyLog",
    "Projected",
    "QueueItemRow",
    "RecordJson",
    "ReplyOutcomeRow",
    "ReplyRequestRow",
    "ReviewItemRow",
    "SignInAttempt",
]

# Fixed constraint names, so that migrations can name what they change on every engine.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    """An officer's account: name, role, argon2 hash and what their session cookies carry."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    # Random per account; with the generation it is the session stamp (worker/users.py).
    account_key: Mapped[str] = mapped_column(String(64))
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True
    )


class ApiToken(Base):
    """An API token, kept only as the SHA-256 digest of the token shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    account: Mapped[Account] = relationship(back_populates="tokens")


class SignInAttempt(Base):
    """One counted sign-in attempt under one key (worker/web/session.py's limiter)."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (Index("ix_sign_in_attempts_key_at", "kind", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "pair" (name and address), "address" or "account".
    kind: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(200))
    # Seconds since the epoch, from the worker's clock.
    at: Mapped[float] = mapped_column(Float, index=True)
    # The attempt's rows share this, so that a success can take them back together.
    attempt: Mapped[str] = mapped_column(String(32), index=True)


class LegacyImport(Base):
    """A file imported once into the database (the users file of earlier versions)."""

    __tablename__ = "legacy_imports"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rows: Mapped[int] = mapped_column(Integer)


class PrivacyLog(Base):
    """One subject-access export, erasure or retention run: who, when, about whom, and
    how many rows; never what was exported. Primary state, like the accounts: written in
    the same transaction as what it records, and not emptied by a rebuild."""

    __tablename__ = "privacy_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "subject_access", "erasure" or "retention".
    kind: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(100))
    author_key: Mapped[str | None] = mapped_column(Text, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    # Rows per table exported, redacted or deleted.
    rows: Mapped[dict[str, Any]] = mapped_column(JSON)


class PresenceRow(Base):
    """An officer who has an item open, until ``seen_at`` is older than the presence
    expiry (worker/web/presence.py). Ephemeral: heartbeats renew it, and nothing else
    keeps it, so it is neither on a topic nor rebuilt."""

    __tablename__ = "presence"

    item_id: Mapped[str] = mapped_column(Text, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Seconds since the epoch, from the web process's clock.
    seen_at: Mapped[float] = mapped_column(Float, index=True)


# -- the read side, folded from the topics by worker/db/projector.py ------------------------
# Each row is one record (the latest version seen), keyed by the record's id, with the
# whole record as JSON, the columns that pages and reports filter on, and where on its
# topic the row's version was read. All of it can be rebuilt: `triage db rebuild`.

# JSONB on PostgreSQL (indexable, queryable by reporting tools); JSON text on SQLite.
RecordJson = JSON().with_variant(JSONB(), "postgresql")
# Text, not String(n), for what records leave unbounded: PostgreSQL would refuse a long one.


class Projected:
    """The columns every folded table has."""

    record: Mapped[dict[str, Any]] = mapped_column(RecordJson)
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)


class ReviewItemRow(Projected, Base):
    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_queue", "status", "lane", "created_at"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    lane: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8))
    platform: Mapped[str] = mapped_column(Text)
    author_key: Mapped[str] = mapped_column(Text, index=True)
    comment_key: Mapped[str] = mapped_column(Text, index=True)
    conversation_key: Mapped[str] = mapped_column(Text, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DecisionRow(Projected, Base):
    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    item_id: Mapped[str] = mapped_column(Text, index=True)
    lane: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    author_key: Mapped[str] = mapped_column(Text, index=True)


class CaseRow(Projected, Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_board", "status", "due_at"),
        Index("ix_cases_item_id", "item_id"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    conversation_key: Mapped[str] = mapped_column(Text, index=True)
    status: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    author_key: Mapped[str] = mapped_column(Text, index=True)
    item_id: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AlertRow(Projected, Base):
    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, index=True)
    severity: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditRow(Projected, Base):
    __tablename__ = "audit_records"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    decision_id: Mapped[str] = mapped_column(Text, index=True)
    item_id: Mapped[str] = mapped_column(Text, index=True)
    author_key: Mapped[str] = mapped_column(Text, index=True)
    action: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CommentRow(Projected, Base):
    """A comment with its verdict (triage.verdicts), keyed by comment key."""

    __tablename__ = "comments"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    platform: Mapped[str] = mapped_column(Text)
    author_key: Mapped[str] = mapped_column(Text, index=True)
    conversation_key: Mapped[str] = mapped_column(Text, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    lane: Mapped[str | None] = mapped_column(String(32))


class ErasureRow(Projected, Base):
    """A person on the erasure list (triage.erasures), keyed by author key."""

    __tablename__ = "erasures"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    by: Mapped[str] = mapped_column(Text)


class ModerationRow(Projected, Base):
    """Moderation's record of one review item (triage.moderation): advice and closure.
    Closed is final: an open record never replaces a closed one (worker/db/projector.py)."""

    __tablename__ = "item_moderation"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EmergencyRow(Projected, Base):
    """One switch of emergency mode (triage.emergency)."""

    __tablename__ = "emergency_changes"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class HandlingRow(Projected, Base):
    """An assignment, unassignment or internal note (triage.handling); an item's current
    assignee is its assign or unassign row read last (worker/db/handling.py)."""

    __tablename__ = "handling"
    __table_args__ = (Index("ix_handling_item", "item_id", "kind", "source_offset"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    item_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    assignee: Mapped[str | None] = mapped_column(Text, index=True)
    author_key: Mapped[str] = mapped_column(Text, index=True)


class ReplyRequestRow(Projected, Base):
    """An officer's reply to one post (triage.reply-requests), keyed by reply id: the
    latest version, with a manager's approval once given."""

    __tablename__ = "reply_requests"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    item_id: Mapped[str] = mapped_column(Text, index=True)
    comment_key: Mapped[str] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(Text)
    # The person the reply is addressed to.
    author_key: Mapped[str] = mapped_column(Text, index=True)
    template: Mapped[str | None] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    approved_by: Mapped[str | None] = mapped_column(Text)


class ReplyOutcomeRow(Projected, Base):
    """What became of one reply (triage.reply-outcomes), keyed by reply id: the latest of
    sending, sent or failed. An outcome does not name the person addressed: ``author_key``
    is copied from the reply's request, when that has been read (worker/db/projector.py)."""

    __tablename__ = "reply_outcomes"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    item_id: Mapped[str] = mapped_column(Text, index=True)
    comment_key: Mapped[str] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(Text)
    author_key: Mapped[str | None] = mapped_column(Text, index=True)
    status: Mapped[str] = mapped_column(String(8))
    requested_by: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


# -- derived in the same transaction from the rows above (worker/db/projector.py) -----------


class QueueItemRow(Projected, Base):
    """A review item as officers see it: the item with its reply case, moderation's record
    and the decisions laid over (worker/moderation/review_view.py's ``overlay``), without
    the author's current record, which a page adds for the few items it shows. ``sort_at``
    is its place in the lane (replies by deadline, the rest oldest first); ``version``
    grows with every change, so that a page can tell the queue changed. The partition and
    offset are the review item's."""

    __tablename__ = "queue_items"
    __table_args__ = (
        Index("ix_queue_items_lane", "status", "lane", "sort_at", "posted_at", "id"),
        Index("ix_queue_items_author", "author_key", "status"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    lane: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8))
    author_key: Mapped[str] = mapped_column(Text)
    comment_key: Mapped[str] = mapped_column(Text)
    # The verdict's labels, space-separated (None without a verdict): for the reports.
    labels: Mapped[str | None] = mapped_column(Text)
    # When the comment was posted, and when the review item was made (for retention).
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sort_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(BigInteger, index=True)


class LedgerRow(Projected, Base):
    """An author's record under the policy (strikes, warnings, blocks and appeal dates,
    channel bans, police reports), folded from their audit records in the order read;
    the partition and offset are those of the latest of them."""

    __tablename__ = "author_ledgers"
    __table_args__ = (Index("ix_author_ledgers_blocked", "blocked", "appealable_from"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    # The same as id, so that erasure finds the row as it finds every author's rows.
    author_key: Mapped[str] = mapped_column(Text, index=True)
    blocked: Mapped[bool] = mapped_column(Boolean)
    appealable_from: Mapped[date | None] = mapped_column(Date)
    strikes: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Grows with every change, as the queue's (an author's record changes the advice).
    version: Mapped[int] = mapped_column(BigInteger, index=True)
