"""What the officers' pages read: moderation's record of each item, emergency mode, the
queue (items with their case, moderation and decisions laid over) and the author ledger.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from worker.db.migrations.versions.r0002_read_side import TZ, _indexes, _table, _text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_item_id", "cases", ["item_id"])
    _table(
        "item_moderation",
        _text("id"),
        sa.Column("status", sa.String(length=8), nullable=False),
        _text("outcome", nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
    )
    _table(
        "emergency_changes",
        _text("id"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    _indexes("emergency_changes", "at")
    _table(
        "queue_items",
        _text("id"),
        sa.Column("lane", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        _text("author_key"),
        _text("comment_key"),
        _text("labels", nullable=True),
        sa.Column("posted_at", TZ, nullable=False),
        sa.Column("made_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=True),
        sa.Column("sort_at", TZ, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    _indexes("queue_items", "posted_at", "made_at", "version")
    op.create_index(
        "ix_queue_items_lane", "queue_items", ["status", "lane", "sort_at", "posted_at", "id"]
    )
    op.create_index("ix_queue_items_author", "queue_items", ["author_key", "status"])
    _table(
        "author_ledgers",
        _text("id"),
        _text("author_key"),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("appealable_from", sa.Date(), nullable=True),
        sa.Column("strikes", sa.Integer(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    _indexes("author_ledgers", "author_key", "version")
    op.create_index("ix_author_ledgers_blocked", "author_ledgers", ["blocked", "appealable_from"])


def downgrade() -> None:
    for table in ("author_ledgers", "queue_items", "emergency_changes", "item_moderation"):
        op.drop_table(table)
    op.drop_index("ix_cases_item_id", table_name="cases")
