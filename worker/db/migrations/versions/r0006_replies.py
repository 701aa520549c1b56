"""Replies sent from the tool: the officers' requests and what became of each.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from worker.db.migrations.versions.r0002_read_side import TZ, _indexes, _table, _text

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _table(
        "reply_requests",
        _text("id"),
        _text("item_id"),
        _text("comment_key"),
        _text("platform"),
        _text("author_key"),
        sa.Column("template", sa.String(length=32), nullable=True),
        _text("requested_by"),
        sa.Column("requested_at", TZ, nullable=False),
        _text("approved_by", nullable=True),
    )
    _indexes("reply_requests", "item_id", "author_key", "requested_at")
    _table(
        "reply_outcomes",
        _text("id"),
        _text("item_id"),
        _text("comment_key"),
        _text("platform"),
        _text("author_key", nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        _text("requested_by"),
        sa.Column("at", TZ, nullable=False),
    )
    _indexes("reply_outcomes", "item_id", "author_key", "at")


def downgrade() -> None:
    for table in ("reply_outcomes", "reply_requests"):
        op.drop_table(table)
