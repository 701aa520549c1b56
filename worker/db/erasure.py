"""Erasure: what of a person's records is redacted, in the tables and on every fold.

A folded row keeps its whole record as JSON; :func:`redact` blanks the person's words and
what identifies them beyond the platform's account id (name, handle, links, media, the
evidence quoted from their text, officers' notes that may quote it, a drafted reply, the
replies sent to them). The author key itself stays: the policy's record of a block names
the account it blocks, and the erasure list needs the key to find the person's records
again after a rebuild. Everything else in a record (what was decided, by whom, when, the
appeal date) stays, as the policy's record must.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db.models import (
    AlertRow,
    AuditRow,
    CaseRow,
    CommentRow,
    DecisionRow,
    ErasureRow,
    HandlingRow,
    LedgerRow,
    Projected,
    QueueItemRow,
    ReplyOutcomeRow,
    ReplyRequestRow,
    ReviewItemRow,
)

__all__ = [
    "DERIVED_PERSONAL",
    "ERASED",
    "PERSONAL_TABLES",
    "alert_author",
    "column",
    "erase_rows",
    "erased_comment_keys",
    "redact",
]

ERASED = "[erased]"

# The folded tables whose rows belong to one author (the author_key column).
PERSONAL_TABLES: tuple[type[Projected], ...] = (
    CommentRow,
    ReviewItemRow,
    DecisionRow,
    CaseRow,
    AuditRow,
    # The replies sent to them (an outcome's author comes from its request).
    ReplyRequestRow,
    ReplyOutcomeRow,
    # Officers' notes on their items (triage.handling).
    HandlingRow,
)
# The tables derived from those (worker/db/derive.py), redacted with them; a subject
# access export has their contents already, from the tables above and the ledger.
DERIVED_PERSONAL: tuple[type[Projected], ...] = (QueueItemRow, LedgerRow)


# The alerts about one author (a block or its lifting: the Managing Director's notice,
# which names the account and quotes its posts) have the author key as their subject.
AUTHOR_ALERT_KINDS = ("author_blocked", "author_unblocked")


def alert_author(row: dict[str, Any]) -> str | None:
    """The author an alerts row is about, or None for the other kinds."""
    return str(row["subject"]) if row.get("kind") in AUTHOR_ALERT_KINDS else None


def column(table: type[Projected], name: str) -> Any:
    """A column of a folded table (the mixin leaves the tables' own columns untyped)."""
    return table.__table__.c[name]  # type: ignore[attr-defined]


def _comment(comment: dict[str, Any]) -> None:
    comment["text"] = ERASED
    comment["url"] = None
    comment["media"] = []
    author = comment.get("author") or {}
    author["name"] = None
    author["handle"] = None


def _reasons(reasons: list[dict[str, Any]] | None) -> None:
    for reason in reasons or ():
        if reason.get("evidence"):
            reason["evidence"] = ERASED


def _verdict(verdict: dict[str, Any] | None) -> None:
    if verdict:
        _reasons(verdict.get("reasons"))


def _note(record: dict[str, Any], *names: str) -> None:
    for name in names:
        if record.get(name):
            record[name] = ERASED


def _clear(record: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in record:
            record[name] = None


def redact(table: type[Projected], record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` (a row of ``table``, as JSON) with the person's words and
    identifying fields blanked; applying it twice changes nothing more."""
    out: dict[str, Any] = _copy(record)
    if table is CommentRow:
        _comment(out["comment"])
        _verdict(out.get("verdict"))
    elif table is ReviewItemRow or table is QueueItemRow:
        _comment(out["comment"])
        _verdict(out.get("verdict"))
        _note(out, "note", "recommendation")
    elif table is AuditRow:
        out["text"] = ERASED
        out["url"] = None
        out["account_name"] = None
        out["account_handle"] = None
        _reasons(out.get("reasons"))
        _note(out, "note")
    elif table is DecisionRow or table is HandlingRow:
        # A decision's note; an officer's internal note on the item (its text).
        _note(out, "note", "text")
    elif table is CaseRow:
        _note(out, "suggested_reply")
    elif table is ReplyRequestRow or table is ReplyOutcomeRow:
        # What was sent to them, and their handle; who sent or approved it stays.
        _note(out, "text")
        _clear(out, "author_handle")
    elif table is AlertRow:
        notice = out.get("notice")
        if notice:
            notice["account_name"] = None
            notice["account_handle"] = None
            for post in notice.get("posts") or ():
                post["text"] = ERASED
                post["url"] = None
            _note(notice, "note")
    elif table is LedgerRow:
        out["account_name"] = None
        out["account_handle"] = None
        for name in ("warnings", "block_recommendations", "channel_bans", "police_reports"):
            for entry in out.get(name) or ():
                _note(entry, "note")
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def erase_rows(session: Session, author_keys: Iterable[str]) -> dict[str, int]:
    """Redacts every folded row of these authors in place; the rows changed per table."""
    keys = sorted(set(author_keys))
    changed: dict[str, int] = {}
    if not keys:
        return changed
    for table in (*PERSONAL_TABLES, *DERIVED_PERSONAL):
        count = 0
        for row in session.scalars(select(table).where(column(table, "author_key").in_(keys))):
            redacted = redact(table, row.record)
            if redacted != row.record:
                row.record = redacted
                count += 1
        changed[table.__tablename__] = count  # type: ignore[attr-defined]
    count = 0
    alerts = select(AlertRow).where(
        AlertRow.kind.in_(AUTHOR_ALERT_KINDS), AlertRow.subject.in_(keys)
    )
    for row in session.scalars(alerts):
        redacted = redact(AlertRow, row.record)
        if redacted != row.record:
            row.record = redacted
            count += 1
    changed[AlertRow.__tablename__] = count
    session.flush()
    return changed


def erased_comment_keys(session: Session) -> set[str]:
    """The comment keys of erased authors' posts that the tables still know of (comments
    for 90 days, review items for a year, audit records for six, by default): what a
    reader keyed by comment, such as the labels export, must leave out."""
    erased = select(ErasureRow.id).scalar_subquery()
    keys = set(session.scalars(select(CommentRow.id).where(CommentRow.author_key.in_(erased))))
    keys.update(
        session.scalars(
            select(ReviewItemRow.comment_key).where(ReviewItemRow.author_key.in_(erased))
        )
    )
    for record in session.scalars(select(AuditRow.record).where(AuditRow.author_key.in_(erased))):
        keys.add(str(record.get("comment_key", "")))
    keys.discard("")
    return keys
