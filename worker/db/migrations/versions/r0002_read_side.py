"""The read side folded from the topics: review items, decisions, cases, alerts, audit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _text(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _table(name: str, *columns: sa.Column[Any]) -> None:
    """A folded table: its columns, the whole record, and where it was read."""
    op.create_table(
        name,
        *columns,
        sa.Column(
            "record",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column])


def upgrade() -> None:
    _table(
        "review_items",
        _text("id"),
        sa.Column("lane", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        _text("platform"),
        _text("author_key"),
        _text("comment_key"),
        _text("conversation_key"),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=True),
        _text("outcome", nullable=True),
        _text("decided_by", nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
    )
    _indexes("review_items", "author_key", "comment_key", "conversation_key")
    op.create_index("ix_review_items_queue", "review_items", ["status", "lane", "created_at"])
    _table(
        "decisions",
        _text("id"),
        _text("item_id"),
        sa.Column("lane", sa.String(length=32), nullable=False),
        _text("action"),
        _text("decided_by"),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("decided_at", TZ, nullable=False),
        _text("author_key"),
    )
    _indexes("decisions", "author_key", "decided_at", "item_id")
    _table(
        "cases",
        _text("id"),
        _text("conversation_key"),
        sa.Column("status", sa.String(length=16), nullable=False),
        _text("platform"),
        _text("channel"),
        _text("author_key"),
        _text("item_id"),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=True),
        sa.Column("closed_at", TZ, nullable=True),
    )
    _indexes("cases", "author_key", "conversation_key", "received_at")
    op.create_index("ix_cases_board", "cases", ["status", "due_at"])
    _table(
        "alerts",
        _text("id"),
        _text("kind"),
        sa.Column("severity", sa.String(length=16), nullable=False),
        _text("subject"),
        sa.Column("created_at", TZ, nullable=False),
    )
    _indexes("alerts", "created_at", "kind", "subject")
    _table(
        "audit_records",
        _text("id"),
        _text("decision_id"),
        _text("item_id"),
        _text("author_key"),
        _text("action"),
        _text("decided_by"),
        sa.Column("decided_at", TZ, nullable=False),
    )
    _indexes("audit_records", "author_key", "decided_at", "decision_id", "item_id")


def downgrade() -> None:
    for table in ("audit_records", "alerts", "cases", "decisions", "review_items"):
        op.drop_table(table)
