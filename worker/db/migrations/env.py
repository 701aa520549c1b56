"""Alembic's entry point: migrate on the connection worker/db/migrate.py hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from worker.db.models import Base

# Any fixed number: processes starting together on one PostgreSQL migrate one at a time.
MIGRATION_LOCK = 7_113_013

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot alter most things in place: alembic copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.run_migrations()
