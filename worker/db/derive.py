"""The tables the projector derives from folded rows in the same transaction: the queue
(review items as officers see them) and the author ledgers.

Each is a function of rows already in the database, recomputed for the items and authors
a batch touched, and written only where it changed: so a replay or rebuild, which folds
the same rows again, changes nothing here either. The merging is the in-memory view's own
(``overlay`` and ``apply_record``), so the two read sides cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from records import ReviewItem
from records.moderation import AuditRecord, AuthorLedger, Decision, ItemModeration
from records.sla import Case
from worker.db.models import (
    AuditRow,
    CaseRow,
    DecisionRow,
    LedgerRow,
    ModerationRow,
    QueueItemRow,
    ReviewItemRow,
)
from worker.moderation.ledger import apply_record
from worker.moderation.review_view import FAR, overlay

__all__ = ["CHUNK", "ledger_json", "ledger_rows", "queue_rows"]

# Ids per IN (...) list: well under SQLite's limit on parameters.
CHUNK = 500


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    listed = sorted(set(ids))
    for start in range(0, len(listed), CHUNK):
        yield listed[start : start + CHUNK]


def _columns(item: ReviewItem, made_at: Any) -> dict[str, Any]:
    # Replies by deadline (none yet: last), the rest oldest first.
    sort_at = (item.due_at or FAR) if item.lane == "response" else item.comment.created_at
    return {
        "id": item.id,
        "lane": item.lane,
        "status": item.status,
        "author_key": item.comment.author_key,
        "comment_key": item.comment.comment_key,
        "labels": " ".join(item.verdict.labels) if item.verdict is not None else None,
        "posted_at": item.comment.created_at,
        "made_at": made_at,
        "due_at": item.due_at,
        "sort_at": sort_at,
    }


def _plain(value: Any) -> Any:
    # SQLite gives back naive datetimes (in UTC, as every record's are written).
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _same(row: Any, values: dict[str, Any]) -> bool:
    return all(_plain(getattr(row, name)) == _plain(value) for name, value in values.items())


def queue_rows(session: Session, item_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The queue rows of these items that differ from what the table holds, each with a
    version above every version there; items not (or no longer) folded are left out."""
    out: list[dict[str, Any]] = []
    for chunk in _chunks(item_ids):
        items = {
            r.id: r
            for r in session.scalars(select(ReviewItemRow).where(ReviewItemRow.id.in_(chunk)))
        }
        if not items:
            continue
        notes = {
            r.id: ItemModeration.model_validate(r.record)
            for r in session.scalars(select(ModerationRow).where(ModerationRow.id.in_(chunk)))
        }
        decisions: dict[str, list[Decision]] = {}
        for r in session.scalars(
            select(DecisionRow)
            .where(DecisionRow.item_id.in_(chunk))
            .order_by(DecisionRow.source_partition, DecisionRow.source_offset)
        ):
            decisions.setdefault(r.item_id, []).append(Decision.model_validate(r.record))
        cases: dict[str, Case] = {}
        for c in session.scalars(
            select(CaseRow)
            .where(CaseRow.item_id.in_(chunk))
            .order_by(CaseRow.source_partition, CaseRow.source_offset)
        ):
            cases[c.item_id] = Case.model_validate(c.record)
        known = {
            r.id: r for r in session.scalars(select(QueueItemRow).where(QueueItemRow.id.in_(chunk)))
        }
        for item_id, row in items.items():
            item = ReviewItem.model_validate(row.record)
            merged = overlay(
                item, cases.get(item_id), notes.get(item_id), decisions.get(item_id, ())
            )
            values = _columns(merged, item.created_at)
            values["record"] = merged.model_dump(mode="json", by_alias=True)
            values["source_partition"] = row.source_partition
            values["source_offset"] = row.source_offset
            old = known.get(item_id)
            if old is not None and _same(old, values):
                continue
            out.append(values)
    _number(session, QueueItemRow, out)
    return out


def ledger_json(ledger: AuthorLedger) -> dict[str, Any]:
    """The ledger as stored: JSON, with its decision ids in a fixed order."""
    out = ledger.model_dump(mode="json")
    out["decision_ids"] = sorted(ledger.decision_ids)
    return out


def ledger_rows(session: Session, author_keys: Iterable[str]) -> list[dict[str, Any]]:
    """The ledgers of these authors, folded from their audit records in the order read,
    where they differ from what the table holds."""
    out: list[dict[str, Any]] = []
    for chunk in _chunks(author_keys):
        ledgers: dict[str, tuple[AuthorLedger, AuditRow]] = {}
        for r in session.scalars(
            select(AuditRow)
            .where(AuditRow.author_key.in_(chunk))
            .order_by(AuditRow.author_key, AuditRow.source_partition, AuditRow.source_offset)
        ):
            before = ledgers.get(r.author_key)
            ledger = apply_record(
                before[0] if before else None, AuditRecord.model_validate(r.record)
            )
            ledgers[r.author_key] = (ledger, r)
        known = {r.id: r for r in session.scalars(select(LedgerRow).where(LedgerRow.id.in_(chunk)))}
        for key, (ledger, last) in ledgers.items():
            block = ledger.active_block
            values: dict[str, Any] = {
                "id": key,
                "author_key": key,
                "blocked": block is not None,
                "appealable_from": block.appealable_from if block else None,
                "strikes": len(ledger.strikes),
                "updated_at": last.decided_at,
                "record": ledger_json(ledger),
                "source_partition": last.source_partition,
                "source_offset": last.source_offset,
            }
            old = known.get(key)
            if old is not None and _same(old, values):
                continue
            out.append(values)
    _number(session, LedgerRow, out)
    return out


def _number(
    session: Session, table: type[QueueItemRow] | type[LedgerRow], rows: list[dict[str, Any]]
) -> None:
    """Gives each changed row a version above every version in ``table``."""
    if rows:
        top = session.scalar(select(func.max(table.version))) or 0
        for number, values in enumerate(rows, start=top + 1):
            values["version"] = number
