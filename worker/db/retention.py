"""The retention job: deletes the rows the policy's periods no longer allow, audited.

The periods are the topics' own (records/retention.py), so the database keeps no more
than a rebuild from the topics would bring back. Each row is measured from when its
record began: a comment from when it was posted, a review item from when it was made, a
decision or audit record from when it was decided, an alert from when it was raised. Cases
and the erasure list have no period (their topics are compacted, kept until replaced).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete

from records.retention import RetentionPolicy
from worker.db.engine import Database
from worker.db.models import (
    AlertRow,
    AuditRow,
    CommentRow,
    DecisionRow,
    HandlingRow,
    PrivacyLog,
    Projected,
    QueueItemRow,
    ReviewItemRow,
)

__all__ = ["apply_retention", "cutoffs"]


def cutoffs(
    retention: RetentionPolicy, now: datetime
) -> dict[type[Projected], tuple[Any, datetime]]:
    """Per table: the column a row's age is measured by, and the oldest time kept."""
    days = timedelta(days=1)
    return {
        CommentRow: (CommentRow.created_at, now - retention.comments_days * days),
        AlertRow: (AlertRow.created_at, now - retention.comments_days * days),
        ReviewItemRow: (ReviewItemRow.created_at, now - retention.review_items_days * days),
        # The queue's rows go with their review items.
        QueueItemRow: (QueueItemRow.made_at, now - retention.review_items_days * days),
        DecisionRow: (DecisionRow.decided_at, now - retention.decisions_days * days),
        AuditRow: (AuditRow.decided_at, now - retention.audit_days * days),
        # Assignments and notes: as long as their topic keeps them (the decisions' period).
        HandlingRow: (HandlingRow.at, now - retention.decisions_days * days),
    }


def apply_retention(
    database: Database, retention: RetentionPolicy, *, by: str, now: datetime
) -> dict[str, int]:
    """Deletes every row older than its period and logs the counts in privacy_log, in one
    transaction; the rows deleted per table."""
    deleted: dict[str, int] = {}
    with database.write() as session:
        for table, (column, oldest) in cutoffs(retention, now).items():
            result: Any = session.execute(delete(table).where(column < oldest))
            deleted[table.__tablename__] = int(result.rowcount or 0)  # type: ignore[attr-defined]
        session.add(PrivacyLog(kind="retention", by=by, author_key=None, at=now, rows=deleted))
    return deleted
