"""Subject access and erasure, read from and written to the database.

Each is recorded in ``privacy_log`` in the same transaction that reads or changes the
rows, so that no export leaves and no erasure is made without its record: who, when,
about whom, how many rows, and never the contents. The log is primary state (a rebuild
keeps it) and lives beside the accounts it names, backed up with them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.moderation import AuditRecord, Role, role_at_least
from records.privacy import Erasure
from worker.db.engine import Database
from worker.db.erasure import PERSONAL_TABLES, column, erase_rows
from worker.db.models import Account, ErasureRow, PrivacyLog, Projected
from worker.moderation.ledger import fold

__all__ = [
    "AUTHOR_KEY",
    "Export",
    "PrivacyError",
    "check_admin",
    "check_author_key",
    "erase",
    "subject_access",
    "write_export",
]

AUTHOR_KEY = "PLATFORM:ID, as facebook:1234 (the platform's name and the account's id)"

# The sections of an export, by table; each is one CSV file and one key of the JSON.
SECTIONS: dict[str, type[Projected]] = {
    table.__tablename__: table  # type: ignore[attr-defined]
    for table in PERSONAL_TABLES
}


class PrivacyError(ValueError):
    """The request cannot be carried out as asked; says why."""


def check_author_key(value: str) -> str:
    platform, sep, author_id = value.partition(":")
    if not sep or not platform or not author_id or platform != platform.lower():
        raise PrivacyError(f"{value!r} is not an author key ({AUTHOR_KEY})")
    return value


def _account(session: Session, name: str, needed: Role) -> Account:
    account = session.scalars(select(Account).where(Account.name == name)).one_or_none()
    if account is None:
        raise PrivacyError(f"no account named {name!r}")
    if not role_at_least(account.role, needed):  # type: ignore[arg-type]
        raise PrivacyError(f"{name} is a {account.role}: this needs the {needed} role or above")
    return account


def _columns(table: type[Projected]) -> list[str]:
    names = [c.name for c in table.__table__.columns]  # type: ignore[attr-defined]
    return [n for n in names if n not in ("record", "source_partition", "source_offset")]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass
class Export:
    """Everything held about one author: rows per table, and their ledger."""

    author_key: str
    by: str
    at: datetime
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ledger: dict[str, Any] | None = None
    erased: bool = False

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.sections.items()}

    def document(self) -> dict[str, Any]:
        """The whole export as one JSON document."""
        return {
            "author_key": self.author_key,
            "exported_at": self.at.isoformat(),
            "exported_by": self.by,
            "erased": self.erased,
            "ledger": self.ledger,
            **self.sections,
        }


def subject_access(database: Database, author_key: str, *, by: str, now: datetime) -> Export:
    """Reads every row about ``author_key`` and logs the export, in one transaction;
    ``by`` must be a manager or an admin."""
    check_author_key(author_key)
    export = Export(author_key=author_key, by=by, at=now)
    with database.write() as session:
        _account(session, by, "manager")
        for name, table in SECTIONS.items():
            rows = session.scalars(
                select(table)
                .where(column(table, "author_key") == author_key)
                .order_by(column(table, "id"))
            )
            export.sections[name] = [
                {
                    **{c: _plain(getattr(row, c)) for c in _columns(table)},
                    "record": row.record,
                }
                for row in rows
            ]
        audit = sorted(
            (AuditRecord.model_validate(row["record"]) for row in export.sections["audit_records"]),
            key=lambda record: record.decided_at,
        )
        ledger = fold(audit).get(author_key)
        export.ledger = ledger.model_dump(mode="json") if ledger else None
        export.erased = session.get(ErasureRow, author_key) is not None
        session.add(
            PrivacyLog(
                kind="subject_access", by=by, author_key=author_key, at=now, rows=export.counts()
            )
        )
    return export


def write_export(export: Export, out: Path) -> list[Path]:
    """Writes ``subject-access.json`` (everything) and one CSV per table into ``out``
    (made, owner-only); the files written."""
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    document = export.document()
    written = [
        _private_write(out / "subject-access.json", lambda f: json.dump(document, f, indent=2))
    ]
    for name, table in SECTIONS.items():
        rows = export.sections[name]
        written.append(_private_write(out / f"{name}.csv", partial(_csv, table=table, rows=rows)))
    return written


def _csv(f: Any, *, table: type[Projected], rows: list[dict[str, Any]]) -> None:
    # The table's columns, then the whole record as JSON text.
    writer = csv.DictWriter(f, fieldnames=[*_columns(table), "record"])
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "record": json.dumps(row["record"], sort_keys=True)})


def _private_write(path: Path, write: Callable[[Any], None]) -> Path:
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    with path.open("w", encoding="utf-8", newline="") as f:
        write(f)
    return path


def erase(database: Database, erasure: Erasure) -> dict[str, int]:
    """Redacts every row of the erasure's author, puts them on the erasure list and logs
    it, in one transaction; ``erasure.by`` must be an admin. The rows redacted per table."""
    author_key = check_author_key(erasure.author_key)
    with database.write() as session:
        _account(session, erasure.by, "admin")
        changed = erase_rows(session, [author_key])
        if session.get(ErasureRow, author_key) is None:
            # The projector's copy from triage.erasures replaces this one when it arrives.
            session.add(
                ErasureRow(
                    id=author_key,
                    erased_at=erasure.erased_at,
                    by=erasure.by,
                    record=erasure.to_json_dict(),
                    source_partition=-1,
                    source_offset=-1,
                )
            )
        session.add(
            PrivacyLog(
                kind="erasure",
                by=erasure.by,
                author_key=author_key,
                at=erasure.erased_at,
                reason=erasure.reason,
                rows=changed,
            )
        )
    return changed


def check_admin(database: Database, name: str) -> None:
    """Raises PrivacyError unless ``name`` is an admin account."""
    with database.read() as session:
        _account(session, name, "admin")
