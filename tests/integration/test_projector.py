"""The projector on the embedded broker, into SQLite and a real PostgreSQL: every topic
folded into its table, the newest version of a record kept, bad records skipped, offsets
committed in its own group, and replays and rebuilds that change nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select

from records import Topics, encode
from records.admin import ensure_topic
from records.moderation import Decision
from records.sla import Alert
from tests.e2e.site import (
    FAST_HASHER,
    NOW,
    PASSWORD,
    earlier_block,
    sample_cases,
    sample_items,
)
from tests.integration.conftest import make_comment, worker_settings
from worker.cli import cli
from worker.db import Database, current, upgrade
from worker.db.models import (
    AlertRow,
    AuditRow,
    CaseRow,
    DecisionRow,
    LedgerRow,
    PrivacyLog,
    QueueItemRow,
    ReviewItemRow,
)
from worker.db.projector import Folder, Projector, rebuild
from worker.db.retention import SCHEDULED_BY
from worker.users import UserStore

pytestmark = pytest.mark.integration

TRIAGE = Path(sys.executable).parent / "triage"
# The folded tables, and those derived from them (a replay must change neither).
TABLES = (ReviewItemRow, DecisionRow, CaseRow, AlertRow, AuditRow, QueueItemRow, LedgerRow)
WAIT_S = 60.0


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None


def decision() -> Decision:
    return Decision(
        id="d-hide-rude",
        item_id="i-rude",
        lane="moderation",
        action="hide",
        by="olivia",
        role="officer",
        decided_at=NOW,
        author_key="facebook:a1",
    )


def alert() -> Alert:
    return Alert(
        id="case-c-bins:at_risk",
        kind="sla.at_risk",
        severity="warning",
        subject="facebook:t-c-bins",
        message="A reply is due within the hour",
        created_at=NOW,
    )


async def settings_for(broker, topic_prefix, url):
    """Settings on the session broker and the database at ``url``, with the five topics
    made (two partitions each)."""
    settings = worker_settings(broker, topic_prefix, database_url=url)
    names = settings.topics
    for name in (names.review, names.decisions, names.cases, names.alerts, names.audit):
        await ensure_topic(settings.kafka, name, 2)
    return settings


@pytest.fixture
async def settings(broker, topic_prefix, database_url):
    """The five topics on the session broker, and an empty database of each kind."""
    return await settings_for(broker, topic_prefix, database_url)


async def fill(settings, produce) -> None:
    names = settings.topics
    items = sample_items()
    await produce(names.review, items, key=lambda item: item.id)
    closed = items[0].model_copy(update={"status": "closed", "outcome": "hide"})
    await produce(names.review, [closed], key=closed.id)
    await produce(names.review, [b"not json at all"], key=closed.id)
    await produce(names.decisions, [decision()], key="i-rude")
    await produce(names.cases, sample_cases(), key=lambda case: case.conversation_key)
    await produce(names.alerts, [alert()], key=alert().id)
    await produce(names.audit, [earlier_block()], key=earlier_block().author_key)


def counts(database: Database) -> dict[str, int]:
    with database.read() as session:
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
            for table in TABLES
        }


def snapshot(database: Database) -> dict[str, list[tuple]]:
    """Every row of every folded table, as plain values."""
    with database.read() as session:
        return {
            table.__tablename__: [
                (row.id, row.record, row.source_partition, row.source_offset)
                for row in session.scalars(select(table).order_by(table.id))
            ]
            for table in TABLES
        }


async def until(check, what: str, within: float = WAIT_S) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {within:.0f}s")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def projecting(settings, database):
    """A running projector, cancelled afterwards."""
    projector = Projector(settings, database)
    task = asyncio.create_task(projector.run())
    try:
        yield projector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def expected() -> dict[str, int]:
    return {
        "review_items": len(sample_items()),
        "decisions": 1,
        "cases": len(sample_cases()),
        "alerts": 1,
        "audit_records": 1,
        "queue_items": len(sample_items()),
        "author_ledgers": 1,
    }


def records_on_topics() -> int:
    """The records fill() writes that the projector reads (the bad one and the closed
    item's earlier version aside); the derived tables are not read from a topic."""
    derived = {"queue_items", "author_ledgers"}
    return sum(n for table, n in expected().items() if table not in derived)


@pytest.fixture
def database_of(settings):
    made: list[Database] = []

    def make() -> Database:
        made.append(Database(settings.database_url.get_secret_value()))
        upgrade(made[-1])
        return made[-1]

    yield make
    for database in made:
        database.close()


async def test_every_topic_is_folded_with_the_newest_version_and_bad_records_skipped(
    settings, produce, database_of
):
    """Each record lands in its table once, a later version replaces an earlier one, the
    row says where it was read, and a record that is not JSON is skipped."""
    database = database_of()
    await fill(settings, produce)
    async with projecting(settings, database) as projector:
        await until(lambda: counts(database) == expected(), "every record folded")
        await until(lambda: projector.folder.skipped == 1, "the bad record skipped")
    first = sample_items()[0]
    with database.read() as session:
        row = session.get(ReviewItemRow, first.id)
        assert row is not None
        assert (row.status, row.outcome) == ("closed", "hide")
        assert row.record["comment"]["text"] == first.comment.text
        assert row.source_offset >= 1
        assert row.author_key == first.comment.author_key
        case = session.scalars(select(CaseRow).where(CaseRow.item_id == "i-pothole")).one()
        assert case.conversation_key == "facebook:t-c-pothole"
        assert session.get(DecisionRow, "d-hide-rude").decided_by == "olivia"


async def test_replays_and_rebuilds_change_nothing(settings, produce, database_of):
    """Reading every topic again (another group from the start, a rebuild, an older copy
    of a record) leaves every row as it was."""
    database = database_of()
    await fill(settings, produce)
    async with projecting(settings, database):
        await until(lambda: counts(database) == expected(), "every record folded")
    before = snapshot(database)

    replay = Projector(settings, database)
    replay.group_id += "-replay"
    task = asyncio.create_task(replay.run())
    # Every record, and the closed item's earlier version as well.
    await until(lambda: replay.folder.folded == records_on_topics() + 1, "the replay")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert snapshot(database) == before

    with database.write() as session:
        session.execute(delete(CaseRow))
    written = await rebuild(settings, database)
    assert written == records_on_topics() + 1
    assert snapshot(database) == before


async def test_the_group_resumes_where_it_committed(settings, produce, database_of):
    """A projector started again in the same group reads only what came after."""
    database = database_of()
    await fill(settings, produce)
    async with projecting(settings, database) as first:
        await until(lambda: counts(database) == expected(), "every record folded")

        def all_committed() -> bool:
            return first.committed == first.folder.folded + first.folder.skipped

        await until(all_committed, "the offsets committed")
    later = alert().model_copy(update={"id": "case-c-pothole:at_risk", "created_at": NOW})
    await produce(settings.topics.alerts, [later], key=later.id)
    async with projecting(settings, database) as again:
        await until(lambda: counts(database)["alerts"] == 2, "the new alert")
        await asyncio.sleep(1.0)
        assert again.folder.folded == 1


async def test_cli_rebuild_refolds_the_tables(settings, produce, database_of, monkeypatch):
    """`triage db rebuild` drops rows no topic holds and brings back rows that were lost."""
    database = database_of()
    await fill(settings, produce)
    with database.write() as session:
        session.add(
            AlertRow(
                id="stray",
                kind="x",
                severity="info",
                subject="s",
                created_at=NOW - timedelta(days=1),
                record={},
                source_partition=0,
                source_offset=0,
            )
        )
    for name, value in {
        "TRIAGE_BROKER": settings.broker,
        "TRIAGE_TOPIC_PREFIX": settings.topic_prefix,
        "TRIAGE_APP_ID": settings.app_id,
        "TRIAGE_DATABASE_URL": settings.database_url.get_secret_value(),
    }.items():
        monkeypatch.setenv(name, value)
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["db", "rebuild"])
    assert result.exit_code == 0, result.output
    assert counts(database) == expected()
    with database.read() as session:
        assert session.get(AlertRow, "stray") is None


def start_run(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("ab") as log:
        return subprocess.Popen([str(TRIAGE), "run"], env=env, stdout=log, stderr=log)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_review(port: int, token: str) -> list[str]:
    """The open items' ids that the worker's app lists, or [] while it is not up."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/review", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return sorted(item["id"] for item in json.load(response)["items"])
    except OSError:
        return []


@pytest.mark.slow
async def test_triage_run_folds_what_its_agents_write(
    broker, topic_prefix, database_url, tmp_path, produce
):
    """`triage run` runs the projector: a comment it flags appears as a review item row;
    the app it serves reads the database (a row folded there alone is listed); and it
    runs the retention job once as it starts, logged in privacy_log."""
    port = free_port()
    env = {
        **os.environ,
        "TRIAGE_BROKER": broker.url,
        "TRIAGE_TOPIC_PREFIX": topic_prefix,
        "TRIAGE_APP_ID": f"{topic_prefix}run".replace(".", "-"),
        "TRIAGE_PARTITIONS": "2",
        "TRIAGE_WEB_PORT": str(port),
        "TRIAGE_DATA_DIR": str(tmp_path),
        "TRIAGE_DATABASE_URL": database_url,
        "TRIAGE_LOG_LEVEL": "warning",
    }
    log_path = tmp_path / "worker.log"
    worker = start_run(env, log_path)
    database = Database(database_url)
    try:
        flagged = make_comment(1, "You lot are useless idiots, sort the bins out")
        await until(lambda: current(database) is not None, "the migration at start")
        await produce(Topics(topic_prefix).comments, [flagged], key=flagged.conversation_key)

        def folded() -> list[ReviewItemRow]:
            with database.read() as session:
                return list(session.scalars(select(ReviewItemRow)))

        await until(lambda: worker.poll() is not None or folded(), "a folded review item", 180)
        assert worker.poll() is None, log_path.read_text()[-2000:]
        rows = folded()
        assert {row.comment_key for row in rows} == {flagged.comment_key}

        store = UserStore(database, FAST_HASHER)
        store.add("maya", "manager", PASSWORD)
        token = store.issue_token("maya")
        only_here = sample_items()[0]
        Folder(worker_settings(broker, topic_prefix), database).fold(
            [Message(Topics(topic_prefix).review, 0, 10_000, encode(only_here))]
        )
        await until(
            lambda: only_here.id in api_review(port, token), "the app listing the database", 60
        )
        with database.read() as session:
            ran = list(session.scalars(select(PrivacyLog.by).where(PrivacyLog.kind == "retention")))
        assert ran == [SCHEDULED_BY]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        database.close()
    assert worker.returncode == 0, log_path.read_text()[-2000:]


async def test_the_projector_waits_out_a_database_outage(broker, topic_prefix, produce, postgres):
    """While PostgreSQL refuses connections the projector keeps its batch and tries again;
    once it is back, what arrived meanwhile is folded."""
    with postgres.fresh_database() as url:
        settings = await settings_for(broker, topic_prefix, url)
        database = Database(url)
        upgrade(database)
        name = database.url.database
        await fill(settings, produce)
        try:
            async with projecting(settings, database) as projector:
                await until(lambda: counts(database) == expected(), "every record folded")
                with postgres.admin() as admin:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                        (name,),
                    )
                later = alert().model_copy(update={"id": "during-the-outage"})
                await produce(settings.topics.alerts, [later], key=later.id)
                read = records_on_topics() + 1
                await until(lambda: projector.folder.folded > read, "the alert read")
                await asyncio.sleep(2.0)
                with postgres.admin() as admin:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                await until(lambda: counts(database)["alerts"] == 2, "the alert folded after")
        finally:
            database.close()
