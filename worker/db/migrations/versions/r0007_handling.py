"""Officers' handling of review items: assignments and internal notes (triage.handling),
and who has an item open now (presence, with an expiry).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from worker.db.migrations.versions.r0002_read_side import TZ, _indexes, _table, _text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _table(
        "handling",
        _text("id"),
        _text("item_id"),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _text("by"),
        sa.Column("at", TZ, nullable=False),
        _text("assignee", nullable=True),
        _text("author_key"),
    )
    _indexes("handling", "assignee", "author_key")
    op.create_index("ix_handling_item", "handling", ["item_id", "kind", "source_offset"])
    op.create_table(
        "presence",
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("item_id", "username", name=op.f("pk_presence")),
    )
    op.create_index(op.f("ix_presence_seen_at"), "presence", ["seen_at"])


def downgrade() -> None:
    op.drop_table("presence")
    op.drop_table("handling")
