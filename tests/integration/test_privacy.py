"""Subject access and erasure on the embedded broker, with SQLite and a real PostgreSQL:
an export holds everything about one person and nobody else, and is logged; an erasure
redacts the person's words, puts them on triage.erasures and holds through a rebuild,
while the policy's record of their block stays."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import timedelta

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from click.testing import CliRunner
from sqlalchemy import select

from records import TriageResult
from records.admin import ensure_topic
from records.handling import HandlingRecord
from records.moderation import Decision, LabelExample
from records.privacy import Erasure
from records.reply import ReplyOutcome, ReplyRequest
from tests.e2e.site import NOW, earlier_block, sample_cases, sample_items, verdict
from tests.integration.conftest import worker_settings
from worker.cli import cli
from worker.db import Database, upgrade
from worker.db.erasure import ERASED
from worker.db.models import (
    AuditRow,
    CommentRow,
    DecisionRow,
    HandlingRow,
    PrivacyLog,
    ReplyOutcomeRow,
    ReplyRequestRow,
    ReviewItemRow,
)
from worker.users import UserStore

pytestmark = pytest.mark.integration

ERASED_AUTHOR = "facebook:a5"  # the misinformation author, blocked last year
OTHER_AUTHOR = "facebook:a3"


def results() -> list[TriageResult]:
    """Every sample item's comment, as triage wrote it to triage.verdicts."""
    return [
        TriageResult(
            comment=item.comment, verdict=item.verdict or verdict((), None), classified_at=NOW
        )
        for item in sample_items()
    ]


def a_note() -> HandlingRecord:
    """An officer's internal note on the erased author's item, quoting them."""
    return HandlingRecord(
        id="h-note-fake",
        kind="note",
        item_id="i-fake",
        lane="moderation",
        by="olivia",
        at=NOW,
        text="Says the water is poisoned again; rang Rumour Mill back",
        author_key=ERASED_AUTHOR,
    )


def a_decision() -> Decision:
    return Decision(
        id="d-hide-fake",
        item_id="i-fake",
        lane="moderation",
        action="hide",
        by="olivia",
        role="officer",
        decided_at=NOW,
        note="Repeats the poisoned water claim",
        author_key=ERASED_AUTHOR,
    )


def a_reply() -> ReplyRequest:
    fake = next(item for item in sample_items() if item.id == "i-fake").comment
    return ReplyRequest(
        id="r-fake",
        item_id="i-fake",
        comment_key=fake.comment_key,
        platform=fake.platform,
        channel=fake.channel,
        thread_id=fake.thread_id,
        author_id=fake.author.id,
        author_handle=fake.author.handle,
        text="Rumour Mill, that claim about the water is wrong: see our tests.",
        template="warning",
        private=True,
        requested_by="olivia",
        requested_at=NOW,
        needs_approval=True,
        approved_by="maya",
        approved_at=NOW,
    )


def its_outcome() -> ReplyOutcome:
    reply = a_reply()
    return ReplyOutcome(
        reply_id=reply.id,
        item_id=reply.item_id,
        comment_key=reply.comment_key,
        platform=reply.platform,
        status="sent",
        posted_id="m-1",
        text=reply.text,
        private=True,
        requested_by=reply.requested_by,
        approved_by=reply.approved_by,
        at=NOW,
    )


@pytest.fixture
async def site(broker, topic_prefix, database_url, produce, monkeypatch):
    """The topics filled with the sample records (a reply to the misinformation author
    among them), accounts of each role in the database,
    and the CLI's settings pointing at both."""
    settings = worker_settings(broker, topic_prefix, database_url=database_url)
    names = settings.topics
    for name in (
        names.verdicts,
        names.review,
        names.decisions,
        names.cases,
        names.audit,
        names.handling,
    ):
        await ensure_topic(settings.kafka, name, 2)
    for name in (names.reply_requests, names.reply_outcomes):
        await ensure_topic(settings.kafka, name, 2)
    await produce(names.reply_requests, [a_reply()], key="r-fake")
    await produce(names.reply_outcomes, [its_outcome()], key="r-fake")
    await produce(names.verdicts, results(), key=lambda r: r.comment.conversation_key)
    await produce(names.review, sample_items(), key=lambda item: item.id)
    await produce(names.decisions, [a_decision()], key="i-fake")
    await produce(names.handling, [a_note()], key="i-fake")
    await produce(names.cases, sample_cases(), key=lambda case: case.conversation_key)
    await produce(names.audit, [earlier_block()], key=ERASED_AUTHOR)
    database = Database(database_url)
    upgrade(database)
    store = UserStore(database)
    for name, role in {"ada": "admin", "maya": "manager", "olivia": "officer"}.items():
        store.add(name, role, "a long enough password")
    for name, value in {
        "TRIAGE_BROKER": settings.broker,
        "TRIAGE_TOPIC_PREFIX": settings.topic_prefix,
        "TRIAGE_APP_ID": settings.app_id,
        "TRIAGE_PARTITIONS": "2",
        "TRIAGE_DATABASE_URL": database_url,
    }.items():
        monkeypatch.setenv(name, value)
    assert (await triage("db", "rebuild")).exit_code == 0
    yield settings, database
    database.close()


async def triage(*args: str):
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


def log_rows(database: Database) -> list[PrivacyLog]:
    with database.read() as session:
        return list(session.scalars(select(PrivacyLog).order_by(PrivacyLog.id)))


async def test_subject_access_exports_one_persons_data_and_logs_it(site, tmp_path):
    """The export holds the person's comment, review item, decision, audit record, the
    reply sent to them and its outcome, and their ledger as JSON and CSV, nothing about
    anyone else, and privacy_log records who asked, when and how many rows, without the
    contents."""
    _, database = site
    out = tmp_path / "export"
    result = await triage(
        "subject-access", "--author", ERASED_AUTHOR, "--by", "maya", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    document = json.loads((out / "subject-access.json").read_text())
    assert [row["id"] for row in document["comments"]] == ["facebook:c-fake"]
    assert document["comments"][0]["record"]["comment"]["text"].startswith("The council has")
    assert [row["id"] for row in document["review_items"]] == ["i-fake"]
    assert [row["id"] for row in document["decisions"]] == ["d-hide-fake"]
    # Officers' internal notes on the person's items are theirs to see too.
    assert [row["record"]["text"] for row in document["handling"]] == [a_note().text]
    assert [row["id"] for row in document["audit_records"]] == ["d-old-block"]
    assert document["cases"] == []
    assert [row["id"] for row in document["reply_requests"]] == ["r-fake"]
    assert [row["status"] for row in document["reply_outcomes"]] == ["sent"]
    assert document["ledger"]["blocks"][0]["decision_id"] == "d-old-block"
    assert document["erased"] is False
    assert "Jo Driver" not in (out / "subject-access.json").read_text()
    with (out / "review_items.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [row["author_key"] for row in rows] == [ERASED_AUTHOR]
    assert json.loads(rows[0]["record"])["comment"]["author"]["name"] == "Rumour Mill"
    (entry,) = log_rows(database)
    assert (entry.kind, entry.by, entry.author_key) == ("subject_access", "maya", ERASED_AUTHOR)
    assert entry.rows == {
        "comments": 1,
        "review_items": 1,
        "decisions": 1,
        "cases": 0,
        "audit_records": 1,
        "reply_requests": 1,
        "reply_outcomes": 1,
        "handling": 1,
    }


async def test_subject_access_needs_a_manager(site, tmp_path):
    """An officer's name is refused: nothing is written and nothing is logged."""
    _, database = site
    out = tmp_path / "export"
    result = await triage(
        "subject-access", "--author", ERASED_AUTHOR, "--by", "olivia", "--out", str(out)
    )
    assert result.exit_code == 1
    assert "needs the manager role" in result.output
    assert not out.exists()
    assert log_rows(database) == []


def rows_of(database: Database, author_key: str) -> dict[str, list[dict]]:
    with database.read() as session:
        return {
            table.__tablename__: [
                row.record
                for row in session.scalars(select(table).where(table.author_key == author_key))
            ]
            for table in (
                CommentRow,
                ReviewItemRow,
                DecisionRow,
                AuditRow,
                ReplyRequestRow,
                ReplyOutcomeRow,
                HandlingRow,
            )
        }


def assert_erased(database: Database) -> None:
    """The erased author's words and names are gone, with the reply sent to them; their
    block's record is there, and who sent the reply."""
    rows = rows_of(database, ERASED_AUTHOR)
    (comment,) = rows["comments"]
    assert comment["comment"]["text"] == ERASED
    assert comment["comment"]["author"] == {
        "id": "a5",
        "handle": None,
        "name": None,
        "is_council": False,
    }
    (item,) = rows["review_items"]
    assert item["comment"]["text"] == ERASED
    assert item["comment"]["url"] is None
    assert item["verdict"]["reasons"][0]["evidence"] == ERASED
    assert rows["decisions"][0]["note"] == ERASED
    (note,) = rows["handling"]
    assert (note["text"], note["by"]) == (ERASED, "olivia")
    (block,) = rows["audit_records"]
    assert (block["action"], block["decided_by"]) == ("block", "maya")
    assert block["appealable_from"] == earlier_block().appealable_from.isoformat()
    assert (block["text"], block["account_name"], block["account_handle"]) == (ERASED, None, None)
    (reply,) = rows["reply_requests"]
    assert (reply["text"], reply["author_handle"]) == (ERASED, None)
    assert (reply["requested_by"], reply["approved_by"]) == ("olivia", "maya")
    (outcome,) = rows["reply_outcomes"]
    assert (outcome["text"], outcome["status"], outcome["requested_by"]) == (
        ERASED,
        "sent",
        "olivia",
    )
    dumped = json.dumps(rows)
    for word in ("poisoned", "Rumour Mill", "rumours", "An older post", "water is wrong"):
        assert word not in dumped
    # Nobody else's rows are touched.
    (other,) = rows_of(database, OTHER_AUTHOR)["review_items"]
    assert other["comment"]["text"] == "Huge pothole on Bancroft, who do I tell?"


async def test_erasure_holds_through_a_rebuild(site, read_topic):
    """`triage erase` redacts the person's rows now and writes the erasure list; after a
    rebuild from the topics (which still hold the original text) the text is still gone
    and the block's record is still there."""
    settings, database = site
    result = await triage(
        "erase", "--author", ERASED_AUTHOR, "--reason", "request ref 42", "--by", "ada"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["redacted"]["audit_records"] == 1
    assert_erased(database)
    (listed,) = await read_topic(settings.topics.erasures, 1, Erasure)
    assert (listed.author_key, listed.by, listed.reason) == (ERASED_AUTHOR, "ada", "request ref 42")
    (entry,) = log_rows(database)
    assert (entry.kind, entry.by, entry.reason) == ("erasure", "ada", "request ref 42")

    assert (await triage("db", "rebuild")).exit_code == 0
    assert_erased(database)


async def test_erase_needs_an_admin_and_writes_nothing_otherwise(site, broker):
    """A manager's name is refused before anything is written: no erasure on the topic,
    no row changed, nothing logged."""
    settings, database = site
    before = rows_of(database, ERASED_AUTHOR)
    result = await triage(
        "erase", "--author", ERASED_AUTHOR, "--reason", "request ref 42", "--by", "maya"
    )
    assert result.exit_code == 1
    assert "needs the admin role" in result.output
    assert rows_of(database, ERASED_AUTHOR) == before
    assert log_rows(database) == []
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        assert settings.topics.erasures not in await admin.list_topics()
    finally:
        await admin.close()


async def test_retention_deletes_rows_older_than_the_policy_allows(site):
    """`triage db retention` deletes the rows past their period (here: comments older
    than 90 days, none of the samples, and a note older than six years) and logs the
    counts."""
    _, database = site
    with database.write() as session:
        old = session.get(CommentRow, "facebook:c-fake")
        assert old is not None
        old.created_at = NOW - timedelta(days=4000)
        note = session.get(HandlingRow, a_note().id)
        assert note is not None
        note.at = NOW - timedelta(days=4000)
    result = await triage("db", "retention")
    assert result.exit_code == 0, result.output
    deleted = json.loads(result.stdout)["deleted"]
    assert deleted["comments"] == 1
    assert deleted["handling"] == 1
    assert deleted["audit_records"] == 0
    with database.read() as session:
        assert session.get(CommentRow, "facebook:c-fake") is None
        assert session.get(CommentRow, "facebook:c-pothole") is not None
    (entry,) = log_rows(database)
    assert (entry.kind, entry.rows["comments"]) == ("retention", 1)


def label(comment_key: str, text: str) -> LabelExample:
    return LabelExample(
        id=f"label-{comment_key}",
        comment_key=comment_key,
        text=text,
        labels=("misinformation",),
        source="confirmed",
        decision_id=f"d-{comment_key}",
        decided_by="olivia",
        decided_at=NOW,
    )


async def test_the_labels_export_leaves_out_erased_people(site, produce, tmp_path):
    """After an erasure, `triage labels export` writes nobody's training text but the
    others', and says how many it left out."""
    settings, _ = site
    await ensure_topic(settings.kafka, settings.topics.labels, 2)
    fake = label("facebook:c-fake", "The council has poisoned the water supply, share this!")
    pothole = label("facebook:c-pothole", "Huge pothole on Bancroft, who do I tell?")
    await produce(settings.topics.labels, [fake, pothole], key=lambda e: e.comment_key)
    erased = await triage("erase", "--author", ERASED_AUTHOR, "--reason", "ref 42", "--by", "ada")
    assert erased.exit_code == 0, erased.output
    out = tmp_path / "labels.jsonl"
    result = await triage("labels", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == [pothole.text]
    assert "1 of erased people left out" in result.stderr
