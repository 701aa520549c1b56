"""The projector: folds triage.verdicts, triage.review, triage.moderation,
triage.decisions, triage.cases, triage.emergency, triage.alerts, triage.audit, the replies
sent from the tool (triage.reply-requests, triage.reply-outcomes), assignments and notes
(triage.handling) and the erasure list (triage.erasures) into the read-side tables
(worker/db/models.py), and in the same transaction derives the queue and the author
ledgers from them (worker/db/derive.py).

It reads in a consumer group of its own (``<app id>-projector``), so it neither takes
partitions from the worker's agents nor depends on them, and it commits its offsets only
after the batch's transaction has committed. Every write is an upsert keyed by the
record's id that also stores the partition and offset it was read at, and a row is only
replaced by a version read later on the same partition: reading a record again (after a
crash, a rebalance, or a rebuild) changes nothing. ``rebuild`` empties the tables and
folds every topic again from its start.

The erasure list is applied on every fold: a record of an erased author is redacted
before it is written (worker/db/erasure.py), and an erasure read after the author's
records (live, or later in a rebuild) redacts the rows already written, in the same
transaction. So a rebuild cannot bring an erased person's text back.

A record that cannot be read is skipped and logged (topic, partition, offset and reason,
never its contents): the worker's own agents and readers of these topics already send it
to the dead-letter topic, and a second copy from here would only repeat it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import BaseModel
from sqlalchemy import and_, delete, false, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from records import ReviewItem, TriageResult
from records.codec import InvalidRecord, decode
from records.handling import HandlingRecord
from records.moderation import AuditRecord, Decision, ItemModeration
from records.privacy import Erasure
from records.reply import ReplyOutcome, ReplyRequest
from records.sla import Alert, Case, EmergencyChange
from worker.db.derive import ledger_rows, queue_rows
from worker.db.engine import Database
from worker.db.erasure import PERSONAL_TABLES, alert_author, erase_rows, redact
from worker.db.models import (
    AlertRow,
    AuditRow,
    CaseRow,
    CommentRow,
    DecisionRow,
    EmergencyRow,
    ErasureRow,
    HandlingRow,
    LedgerRow,
    ModerationRow,
    Projected,
    QueueItemRow,
    ReplyOutcomeRow,
    ReplyRequestRow,
    ReviewItemRow,
)
from worker.settings import Settings

__all__ = [
    "RETRY_MAX_S",
    "ROWS_PER_STATEMENT",
    "Fold",
    "Folder",
    "Message",
    "Projector",
    "folds",
    "rebuild",
    "refold_ledgers",
]

log = structlog.get_logger(__name__)

# Tables the projector derives from the folded ones rather than reads from a topic.
DERIVED: tuple[type[Projected], ...] = (QueueItemRow, LedgerRow)

# SQLite allows 32,766 parameters a statement; a row has at most 15.
ROWS_PER_STATEMENT = 500
RETRY_MAX_S = 30.0


class Message(Protocol):
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Fold:
    """How one topic's records become rows of one table."""

    record_type: type[BaseModel]
    table: type[Projected]
    columns: Callable[[Any], dict[str, Any]]


def _columns_of(
    table: type[Projected], **sources: str | Callable[[Any], Any]
) -> Callable[[Any], dict[str, Any]]:
    """A fold's columns: each of the table's own columns from the record's attribute of
    the same name, or from ``sources``: a dotted path, or a function of the record."""
    names = [c.name for c in table.__table__.columns]  # type: ignore[attr-defined]
    unknown = set(sources) - set(names)
    if unknown:
        raise ValueError(f"{table.__name__} has no columns {sorted(unknown)}")
    getters: dict[str, Callable[[Any], Any]] = {}
    for name in names:
        if name not in _PLACE:
            source = sources.get(name, name)
            getters[name] = source if callable(source) else attrgetter(source)
    return lambda record: {name: get(record) for name, get in getters.items()}


# What every folded table has besides its own columns (worker/db/models.py's Projected).
_PLACE = ("record", "source_partition", "source_offset")
_COMMENT = {
    "platform": "comment.platform",
    "author_key": "comment.author_key",
    "conversation_key": "comment.conversation_key",
}


def folds(settings: Settings) -> dict[str, Fold]:
    """The topics the projector reads (full names), each with its fold."""
    topics = settings.topics
    comment = _columns_of(
        CommentRow,
        id="comment.comment_key",
        created_at="comment.created_at",
        lane=lambda result: result.verdict.lane if result.verdict else None,
        **_COMMENT,
    )
    return {
        topics.verdicts: Fold(TriageResult, CommentRow, comment),
        topics.review: Fold(
            ReviewItem,
            ReviewItemRow,
            _columns_of(ReviewItemRow, comment_key="comment.comment_key", **_COMMENT),
        ),
        topics.moderation: Fold(
            ItemModeration, ModerationRow, _columns_of(ModerationRow, id="item_id")
        ),
        topics.decisions: Fold(Decision, DecisionRow, _columns_of(DecisionRow, decided_by="by")),
        topics.cases: Fold(Case, CaseRow, _columns_of(CaseRow)),
        topics.emergency: Fold(EmergencyChange, EmergencyRow, _columns_of(EmergencyRow)),
        topics.alerts: Fold(Alert, AlertRow, _columns_of(AlertRow)),
        topics.audit: Fold(AuditRecord, AuditRow, _columns_of(AuditRow)),
        topics.erasures: Fold(Erasure, ErasureRow, _columns_of(ErasureRow, id="author_key")),
        topics.reply_requests: Fold(
            ReplyRequest,
            ReplyRequestRow,
            _columns_of(ReplyRequestRow, author_key=lambda r: f"{r.platform}:{r.author_id}"),
        ),
        # The author comes from the reply's request (Folder.fold).
        topics.reply_outcomes: Fold(
            ReplyOutcome,
            ReplyOutcomeRow,
            _columns_of(ReplyOutcomeRow, id="reply_id", author_key=lambda _outcome: None),
        ),
        topics.handling: Fold(HandlingRecord, HandlingRow, _columns_of(HandlingRow)),
    }


def _upsert(session: Session, table: type[Projected], rows: list[dict[str, Any]]) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    target: Any = table
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        statement = dialect.insert(target).values(rows[start : start + ROWS_PER_STATEMENT])
        new = statement.excluded
        # Only a version read later on the same partition replaces a row.
        later = or_(
            target.source_partition != new.source_partition,
            target.source_offset < new.source_offset,
        )
        if table is ModerationRow:
            # Closed is final: no open record replaces a closed one.
            later = and_(later, or_(target.status != "closed", new.status == "closed"))
        elif table is HandlingRow:
            # The first copy counts: a retried assignment read later must not move it
            # after the assignments made since (worker/db/handling.py orders by offset).
            later = false()
        elif table in DERIVED:
            # Derived rows are written only when they changed (worker/db/derive.py).
            later = true()
        columns: dict[str, Any] = {name: new[name] for name in rows[0] if name != "id"}
        if table is ReplyOutcomeRow:
            # An author copied from the request stays, though the request has gone since.
            columns["author_key"] = func.coalesce(new.author_key, target.author_key)
        statement = statement.on_conflict_do_update(
            index_elements=[target.id], set_=columns, where=later
        )
        session.execute(statement)


class Folder:
    """Turns messages into upserts, one transaction per batch."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.database = database
        self.folds = folds(settings)
        self.folded = 0
        self.skipped = 0

    def rows(self, messages: Iterable[Message]) -> dict[type[Projected], list[dict[str, Any]]]:
        """The rows to write per table, one per record id (the last read wins); counts the
        records read in ``folded`` and those skipped in ``skipped``."""
        by_table: dict[type[Projected], dict[str, dict[str, Any]]] = {}
        for message in messages:
            fold = self.folds[message.topic]
            try:
                record = decode(message.value, fold.record_type)
            except InvalidRecord as exc:
                self.skipped += 1
                log.warning(
                    "projector skipped a record",
                    reason=exc.reason,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                )
                continue
            row = fold.columns(record)
            row["record"] = record.model_dump(mode="json", by_alias=True)
            row["source_partition"] = message.partition
            row["source_offset"] = message.offset
            rows = by_table.setdefault(fold.table, {})
            known = rows.get(row["id"])
            if known is not None and fold.table is HandlingRow:
                self.folded += 1
                continue  # the first copy counts, as in the table
            if not (known and known.get("status") == "closed" and fold.table is ModerationRow):
                rows[row["id"]] = row
            self.folded += 1
        return {table: list(rows.values()) for table, rows in by_table.items()}

    def fold(self, messages: Iterable[Message]) -> None:
        """Writes the messages' records in one transaction, with the erasure list applied."""
        tables = self.rows(messages)
        if not tables:
            return
        erased_now = {row["id"] for row in tables.get(ErasureRow, ())}
        with self.database.write() as session:
            _outcome_authors(session, tables)
            erased = erased_now | _erased(session, tables)
            for table, rows in tables.items():
                if table in PERSONAL_TABLES and erased:
                    for row in rows:
                        if row["author_key"] in erased:
                            row["record"] = redact(table, row["record"])
                elif table is AlertRow and erased:
                    for row in rows:
                        if alert_author(row) in erased:
                            row["record"] = redact(table, row["record"])
                _upsert(session, table, rows)
            _derive(session, tables)
            late = _late_outcome_authors(session, tables) & erased
            # Rows of these authors folded before their erasure (or, for a reply's
            # outcome, before its request) was read.
            erase_rows(session, erased_now | late)

    def empty(self) -> None:
        with self.database.write() as session:
            for table in (*DERIVED, *(fold.table for fold in self.folds.values())):
                session.execute(delete(table))


def _derive(session: Session, tables: Mapping[type[Projected], list[dict[str, Any]]]) -> None:
    """Recomputes the queue rows of the items and the ledgers of the authors the batch
    touched, redacted for those on the erasure list."""
    items = {row["id"] for row in tables.get(ReviewItemRow, ())}
    items |= {row["id"] for row in tables.get(ModerationRow, ())}
    for linked in (DecisionRow, CaseRow):
        items |= {row["item_id"] for row in tables.get(linked, ())}
    _write_derived(session, QueueItemRow, queue_rows(session, items))
    _derive_ledgers(session, {row["author_key"] for row in tables.get(AuditRow, ())})


def _derive_ledgers(session: Session, authors: set[str]) -> None:
    _write_derived(session, LedgerRow, ledger_rows(session, authors))


def _write_derived(session: Session, table: type[Projected], rows: list[dict[str, Any]]) -> None:
    """Writes derived rows, redacted for the authors on the erasure list."""
    if not rows:
        return
    erased = _erased(session, {table: rows})
    for row in rows:
        if row["author_key"] in erased:
            row["record"] = redact(table, row["record"])
    _upsert(session, table, rows)


def refold_ledgers(session: Session, author_keys: Iterable[str]) -> None:
    """Folds these authors' ledgers again from the audit records the table still holds
    (after the retention job deleted some), redacted for the erased, and deletes the
    ledgers of those with none left: as a rebuild from the topics would leave them."""
    keys = set(author_keys)
    _derive_ledgers(session, keys)
    for chunk in _chunks(keys):
        left = select(AuditRow.author_key).where(AuditRow.author_key.in_(chunk))
        session.execute(delete(LedgerRow).where(LedgerRow.id.in_(chunk), LedgerRow.id.not_in(left)))


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    listed = sorted(set(ids))
    for start in range(0, len(listed), ROWS_PER_STATEMENT):
        yield listed[start : start + ROWS_PER_STATEMENT]


def _outcome_authors(
    session: Session, tables: Mapping[type[Projected], list[dict[str, Any]]]
) -> None:
    """Gives each of the batch's reply outcomes the author of its request, when the
    request was read in this batch or before."""
    outcomes = tables.get(ReplyOutcomeRow)
    if not outcomes:
        return
    known = {row["id"]: row["author_key"] for row in tables.get(ReplyRequestRow, ())}
    for chunk in _chunks({row["id"] for row in outcomes} - known.keys()):
        found = select(ReplyRequestRow.id, ReplyRequestRow.author_key).where(
            ReplyRequestRow.id.in_(chunk)
        )
        known.update(session.execute(found).tuples().all())
    for row in outcomes:
        row["author_key"] = known.get(row["id"])


def _late_outcome_authors(
    session: Session, tables: Mapping[type[Projected], list[dict[str, Any]]]
) -> set[str]:
    """Gives the outcomes folded before their request (now in the batch) its author; the
    authors of the batch's requests."""
    requests = tables.get(ReplyRequestRow, ())
    for chunk in _chunks(row["id"] for row in requests):
        author = (
            select(ReplyRequestRow.author_key)
            .where(ReplyRequestRow.id == ReplyOutcomeRow.id)
            .scalar_subquery()
        )
        session.execute(
            update(ReplyOutcomeRow)
            .where(ReplyOutcomeRow.id.in_(chunk), ReplyOutcomeRow.author_key.is_(None))
            .values(author_key=author)
        )
    return {row["author_key"] for row in requests}


def _erased(session: Session, tables: Mapping[type[Projected], list[dict[str, Any]]]) -> set[str]:
    """Which of the batch's authors are on the erasure list already."""
    authors = {
        row["author_key"] for table in (*PERSONAL_TABLES, *DERIVED) for row in tables.get(table, ())
    }
    authors |= {alert_author(row) for row in tables.get(AlertRow, ())}
    authors.discard(None)
    found: set[str] = set()
    for chunk in _chunks(authors):
        found.update(session.scalars(select(ErasureRow.id).where(ErasureRow.id.in_(chunk))))
    return found


def _consumer(settings: Settings, *topics: str, group_id: str | None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        **settings.kafka.options(),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=f"{settings.app_id}-projector",
    )


def _flatten(batch: Mapping[TopicPartition, list[Any]]) -> list[Any]:
    return [message for messages in batch.values() for message in messages]


class Projector:
    """Folds the topics into the tables, for ever, in its own consumer group."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.folder = Folder(settings, database)
        self.group_id = f"{settings.app_id}-projector"
        # How many of the records folded had their offsets committed (for tests, metrics).
        self.committed = 0

    async def run(self) -> None:
        """Reads and folds until cancelled."""
        consumer = _consumer(self.settings, *self.folder.folds, group_id=self.group_id)
        await consumer.start()
        log.info("projector started", group=self.group_id, topics=len(self.folder.folds))
        try:
            while True:
                try:
                    batch = await consumer.getmany(timeout_ms=500, max_records=1000)
                except KafkaError as exc:
                    log.warning("projector read failed; retrying", error=type(exc).__name__)
                    await asyncio.sleep(1.0)
                    continue
                messages = _flatten(batch)
                if not messages:
                    continue
                await self._fold(messages)
                try:
                    await consumer.commit()
                    self.committed = self.folder.folded + self.folder.skipped
                except (CommitFailedError, KafkaError) as exc:
                    # Partitions moved: whoever has them reads this batch again, harmlessly.
                    log.info("projector commit skipped", error=type(exc).__name__)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _fold(self, messages: list[Any]) -> None:
        """Folds the batch, trying again while the database cannot be reached (a restart of
        PostgreSQL, a locked SQLite file): nothing is committed to Kafka meanwhile."""
        delay = 0.5
        while True:
            try:
                await asyncio.to_thread(self.folder.fold, messages)
                return
            except OperationalError as exc:
                log.warning(
                    "projector cannot write; retrying",
                    error=type(exc.orig).__name__ if exc.orig else type(exc).__name__,
                    retry_in_s=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)


async def rebuild(settings: Settings, database: Database, *, timeout_s: float = 600.0) -> int:
    """Empties the read-side tables and folds every topic again from its start, up to its
    end when the rebuild began; the number of records folded (each version of a record
    counts). Raises TimeoutError when the topics cannot be read in ``timeout_s``."""
    folder = Folder(settings, database)
    consumer = _consumer(settings, group_id=None)
    await consumer.start()
    try:
        existing = await consumer.topics()
        parts = [
            TopicPartition(topic, partition)
            for topic in folder.folds
            if topic in existing
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        await asyncio.to_thread(folder.empty)
        if not parts:
            return 0
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = {tp: end for tp, end in (await consumer.end_offsets(parts)).items() if end > 0}
        async with asyncio.timeout(timeout_s):
            while ends:
                batch = await consumer.getmany(timeout_ms=500, max_records=1000)
                messages = [m for tp, ms in batch.items() for m in ms if m.offset < ends.get(tp, 0)]
                if messages:
                    await asyncio.to_thread(folder.fold, messages)
                for tp in list(ends):
                    if await consumer.position(tp) >= ends[tp]:
                        del ends[tp]
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
    log.info("read side rebuilt", rows=folder.folded, skipped=folder.skipped)
    return folder.folded
