"""The retention job on the database, on SQLite and a real PostgreSQL: after it deletes
audit records the author ledgers match a fresh fold of what is left; the scheduled run
happens once per interval however many workers ask, and is logged like `triage db
retention`."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from records import encode
from records.moderation import AuditRecord
from records.privacy import Erasure
from records.retention import RetentionPolicy
from tests.e2e.site import NOW, earlier_block
from tests.integration.test_read_side_folds import Message
from worker.db import Database, upgrade
from worker.db.erasure import ERASED
from worker.db.models import AuditRow, LedgerRow, PrivacyLog
from worker.db.projector import Folder
from worker.db.retention import SCHEDULED_BY, run_scheduled, scheduled_retention
from worker.settings import Settings

pytestmark = pytest.mark.integration

SETTINGS = Settings(topic_prefix="t.")
TOPICS = SETTINGS.topics
# The shortest periods the policy allows: the earlier block (400 days old) goes.
SHORT = RetentionPolicy(audit_days=400, decisions_days=400, labels_days=400)
LATER = NOW + timedelta(days=10)
DAY = timedelta(days=1)


def warning_now() -> AuditRecord:
    """A written warning to the blocked author, this week: kept by retention."""
    return earlier_block().model_copy(
        update={
            "id": "d-warn",
            "decision_id": "d-warn",
            "item_id": "i-fake",
            "comment_key": "facebook:c-fake",
            "action": "warn",
            "appealable_from": None,
            "decided_at": NOW,
            "posted_at": NOW,
            "account_handle": "rumours_now",
        }
    )


def only_old(author: str) -> AuditRecord:
    """An old strike for another author, with no other record."""
    return earlier_block().model_copy(
        update={
            "id": "d-old-hide",
            "decision_id": "d-old-hide",
            "author_key": author,
            "author_id": author.split(":")[1],
            "action": "hide",
            "appealable_from": None,
        }
    )


def audit_messages(*records: AuditRecord) -> list[Message]:
    return [Message(TOPICS.audit, 0, n, encode(r)) for n, r in enumerate(records)]


def ledgers(database: Database) -> dict[str, tuple]:
    """Each ledger row's values, without its version (a rebuild numbers them afresh)."""
    with database.read() as session:
        return {
            row.id: (row.blocked, row.appealable_from, row.strikes, row.record)
            for row in session.scalars(select(LedgerRow))
        }


def test_retention_refolds_the_ledgers_as_a_rebuild_would(database, tmp_path):
    """After the old block is deleted, its author's ledger holds only the warning (its
    strike, no block) and the author with nothing left has no ledger:
    the same rows as folding the audit records that are left into an empty database."""
    messages = audit_messages(earlier_block(), warning_now(), only_old("facebook:a9"))
    Folder(SETTINGS, database).fold(messages)
    assert ledgers(database)[earlier_block().author_key][0] is True
    deleted = scheduled_retention(database, SHORT, by="test", now=LATER, every=DAY)
    assert deleted is not None
    assert deleted["audit_records"] == 2
    after = ledgers(database)
    assert set(after) == {earlier_block().author_key}
    blocked, appealable, strikes, record = after[earlier_block().author_key]
    # The warning's own strike; the block's went with it.
    assert (blocked, appealable, strikes) == (False, None, 1)
    assert [w["decision_id"] for w in record["warnings"]] == ["d-warn"]
    assert record["blocks"] == []
    fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(fresh)
    try:
        Folder(SETTINGS, fresh).fold([messages[1]])
        assert ledgers(fresh) == after
    finally:
        fresh.close()


def test_a_refolded_ledger_of_an_erased_author_stays_redacted(database):
    """The ledger refolded after retention, for an author on the erasure list, has no
    name or handle."""
    erasure = Erasure(author_key=earlier_block().author_key, erased_at=NOW, by="ada", reason="r")
    folder = Folder(SETTINGS, database)
    folder.fold(audit_messages(earlier_block(), warning_now()))
    folder.fold([Message(TOPICS.erasures, 0, 0, encode(erasure))])
    scheduled_retention(database, SHORT, by="test", now=LATER, every=DAY)
    (_, _, _, record) = ledgers(database)[earlier_block().author_key]
    assert (record["account_name"], record["account_handle"]) == (None, None)
    with database.read() as session:
        (kept,) = session.scalars(select(AuditRow))
        assert kept.record["text"] == ERASED


def runs(database: Database) -> list[tuple[str, object]]:
    with database.read() as session:
        return [
            (entry.by, entry.rows["audit_records"])
            for entry in session.scalars(
                select(PrivacyLog).where(PrivacyLog.kind == "retention").order_by(PrivacyLog.id)
            )
        ]


def test_the_scheduled_run_happens_once_per_interval(database):
    """A second run within the interval does nothing and logs nothing; one after it runs
    and is logged."""
    Folder(SETTINGS, database).fold(audit_messages(earlier_block()))
    first = scheduled_retention(database, SHORT, by=SCHEDULED_BY, now=LATER, every=DAY)
    assert first is not None
    assert first["audit_records"] == 1
    assert (
        scheduled_retention(database, SHORT, by=SCHEDULED_BY, now=LATER + DAY / 2, every=DAY)
        is None
    )
    assert scheduled_retention(database, SHORT, by=SCHEDULED_BY, now=LATER + DAY, every=DAY) == {
        **first,
        "audit_records": 0,
    }
    assert runs(database) == [(SCHEDULED_BY, 1), (SCHEDULED_BY, 0)]


def test_workers_asking_at_once_run_it_once(database_url):
    """Four workers, each with its own engine on the same database, ask at the same
    moment: one runs the job and the others find it done."""
    engines = [Database(database_url) for _ in range(4)]
    upgrade(engines[0])
    results: list[object] = []
    start = threading.Barrier(len(engines))

    def ask(db: Database) -> None:
        start.wait()
        results.append(scheduled_retention(db, SHORT, by=SCHEDULED_BY, now=LATER, every=DAY))

    threads = [threading.Thread(target=ask, args=(db,)) for db in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(results) == len(engines)
        assert sum(result is not None for result in results) == 1
        assert len(runs(engines[0])) == 1
    finally:
        for db in engines:
            db.close()


async def test_the_worker_job_runs_when_due(database):
    """run_scheduled runs the job at once, then looks again each interval and runs it
    only when the clock has passed the interval since the last run."""
    clock = {"now": LATER}
    job = asyncio.create_task(
        run_scheduled(database, SHORT, every=timedelta(seconds=0.2), now=lambda: clock["now"])
    )
    try:
        for _ in range(100):
            if runs(database):
                break
            await asyncio.sleep(0.05)
        assert runs(database) == [(SCHEDULED_BY, 0)]
        await asyncio.sleep(0.5)
        # The same moment: within the interval, so nothing more.
        assert len(runs(database)) == 1
        clock["now"] = LATER + DAY
        for _ in range(100):
            if len(runs(database)) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(runs(database)) == 2
        assert not job.done()
    finally:
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
