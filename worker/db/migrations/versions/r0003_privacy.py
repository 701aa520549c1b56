"""Comments with their verdicts, the erasure list, and the log of subject-access exports,
erasures and retention runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from worker.db.migrations.versions.r0002_read_side import TZ, _indexes, _table, _text

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _table(
        "comments",
        _text("id"),
        _text("platform"),
        _text("author_key"),
        _text("conversation_key"),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("lane", sa.String(length=32), nullable=True),
    )
    _indexes("comments", "author_key", "conversation_key", "created_at")
    _table(
        "erasures",
        _text("id"),
        sa.Column("erased_at", TZ, nullable=False),
        _text("by"),
    )
    op.create_table(
        "privacy_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        _text("author_key", nullable=True),
        sa.Column("at", TZ, nullable=False),
        _text("reason"),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_log")),
    )
    _indexes("privacy_log", "at", "author_key")


def downgrade() -> None:
    for table in ("privacy_log", "erasures", "comments"):
        op.drop_table(table)
