"""The retention job: deletes the rows the policy's periods no longer allow, audited.

The periods are the topics' own (records/retention.py), so the database keeps no more
than a rebuild from the topics would bring back. Each row is measured from when its
record began: a comment from when it was posted, a review item from when it was made, a
decision, audit record or reply request from when it was decided or asked, a reply's
outcome from when it was last reported, an alert from when it was raised. Cases and the
erasure list have no period (their topics are compacted, kept until replaced).

The author ledgers are folded from the audit records: after audit records go, the ledgers
of their authors are folded again from those left, in the same transaction.

``run_scheduled`` is the daily job `triage run` keeps (TRIAGE_RETENTION_INTERVAL_HOURS):
each run takes, in its transaction, a lock (PostgreSQL's advisory lock; SQLite's write
lock), so that of several workers on one database one runs at a time, and deletes only
when privacy_log holds no retention run within the interval: one run a day in all,
however many workers there are and however often they restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

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
    ReplyOutcomeRow,
    ReplyRequestRow,
    ReviewItemRow,
)
from worker.db.projector import refold_ledgers

__all__ = [
    "CHECK_MAX_S",
    "RETENTION_LOCK",
    "SCHEDULED_BY",
    "apply_retention",
    "cutoffs",
    "run_scheduled",
    "scheduled_retention",
]

log = structlog.get_logger(__name__)

# The advisory lock the scheduled job holds on PostgreSQL (any fixed number will do).
RETENTION_LOCK = 0x7472_6574
# Recorded in privacy_log as who ran the scheduled job.
SCHEDULED_BY = "retention-schedule"
# How often a worker looks whether a run is due (sooner when the interval is shorter).
CHECK_MAX_S = 3600.0


def cutoffs(
    retention: RetentionPolicy, now: datetime
) -> dict[type[Projected], tuple[Any, datetime]]:
    """Per table: the column a row's age is measured by, and the oldest time kept."""
    days = timedelta(days=1)
    decisions = now - retention.decisions_days * days
    return {
        CommentRow: (CommentRow.created_at, now - retention.comments_days * days),
        AlertRow: (AlertRow.created_at, now - retention.comments_days * days),
        ReviewItemRow: (ReviewItemRow.created_at, now - retention.review_items_days * days),
        # The queue's rows go with their review items.
        QueueItemRow: (QueueItemRow.made_at, now - retention.review_items_days * days),
        DecisionRow: (DecisionRow.decided_at, decisions),
        AuditRow: (AuditRow.decided_at, now - retention.audit_days * days),
        ReplyRequestRow: (ReplyRequestRow.requested_at, decisions),
        ReplyOutcomeRow: (ReplyOutcomeRow.at, decisions),
        # Assignments and notes: as long as their topic keeps them (the decisions' period).
        HandlingRow: (HandlingRow.at, decisions),
    }


def _delete(
    session: Session, retention: RetentionPolicy, *, by: str, now: datetime
) -> dict[str, int]:
    deleted: dict[str, int] = {}
    limits = cutoffs(retention, now)
    _, oldest_audit = limits[AuditRow]
    touched = set(
        session.scalars(
            select(AuditRow.author_key).where(AuditRow.decided_at < oldest_audit).distinct()
        )
    )
    for table, (column, oldest) in limits.items():
        result: Any = session.execute(delete(table).where(column < oldest))
        deleted[table.__tablename__] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    refold_ledgers(session, touched)
    session.add(PrivacyLog(kind="retention", by=by, author_key=None, at=now, rows=deleted))
    return deleted


def apply_retention(
    database: Database, retention: RetentionPolicy, *, by: str, now: datetime
) -> dict[str, int]:
    """Deletes every row older than its period, folds the ledgers of the authors whose
    audit records went again, and logs the counts in privacy_log, in one transaction;
    the rows deleted per table."""
    with database.write() as session:
        return _delete(session, retention, by=by, now=now)


def scheduled_retention(
    database: Database,
    retention: RetentionPolicy,
    *,
    by: str,
    now: datetime,
    every: timedelta,
) -> dict[str, int] | None:
    """``apply_retention``, unless a retention run (by anyone) is logged within ``every``
    before ``now``: then None. Workers sharing the database run it one at a time."""
    with database.write() as session:
        database.serialise(session, RETENTION_LOCK)
        last = session.scalar(select(func.max(PrivacyLog.at)).where(PrivacyLog.kind == "retention"))
        if last is not None and _aware(last) > now - every:
            return None
        return _delete(session, retention, by=by, now=now)


def _aware(value: datetime) -> datetime:
    # SQLite gives back naive datetimes, in UTC as they were written.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def run_scheduled(
    database: Database,
    retention: RetentionPolicy,
    *,
    every: timedelta,
    now: Callable[[], datetime],
) -> None:
    """Runs the job whenever it is due, until cancelled. A run that fails (the database
    unreachable) is logged and tried again at the next look."""
    check_s = min(every.total_seconds(), CHECK_MAX_S)
    while True:
        try:
            deleted = await asyncio.to_thread(
                scheduled_retention, database, retention, by=SCHEDULED_BY, now=now(), every=every
            )
        except SQLAlchemyError as exc:
            log.warning("retention run failed; trying again later", error=type(exc).__name__)
        else:
            if deleted is not None:
                log.info("retention run", deleted=deleted)
        await asyncio.sleep(check_s)
