"""The projector's folds of moderation's records and emergency mode, and the queue and
author ledgers it derives, on SQLite and a real PostgreSQL: closed is final, a reply
item carries its case's due time and closure, decisions close items, and folding the
same records again (a replay) or in a rebuild changes no row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from records import ReviewItem, encode
from records.moderation import AuditRecord, Decision, ItemModeration
from records.privacy import Erasure
from records.sla import Case, EmergencyChange
from tests.e2e.site import NOW, earlier_block, sample_cases, sample_items
from worker.db.erasure import ERASED
from worker.db.models import (
    EmergencyRow,
    LedgerRow,
    ModerationRow,
    Projected,
    QueueItemRow,
)
from worker.db.projector import Folder
from worker.settings import Settings

pytestmark = pytest.mark.integration

DERIVED: tuple[type[Projected], ...] = (QueueItemRow, LedgerRow, ModerationRow, EmergencyRow)


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None


class Topics:
    """Messages as the broker would number them: per topic, one partition, in order."""

    def __init__(self, settings: Settings) -> None:
        self.names = settings.topics
        self.offsets: dict[str, int] = {}
        self.sent: list[Message] = []

    def send(self, topic: str, *records: object) -> list[Message]:
        out = []
        for record in records:
            offset = self.offsets.get(topic, 0)
            self.offsets[topic] = offset + 1
            out.append(Message(topic, 0, offset, encode(record)))  # type: ignore[arg-type]
        self.sent.extend(out)
        return out


def note(item_id: str, status: str = "open", **extra: object) -> ItemModeration:
    return ItemModeration(
        item_id=item_id,
        status=status,  # type: ignore[arg-type]
        recommendation=extra.pop("recommendation", "Hide the post"),  # type: ignore[arg-type]
        updated_at=NOW,
        **extra,  # type: ignore[arg-type]
    )


def hide(item_id: str, author_key: str) -> Decision:
    return Decision(
        id=f"d-hide-{item_id}",
        item_id=item_id,
        lane="moderation",
        action="hide",
        by="olivia",
        role="officer",
        decided_at=NOW,
        author_key=author_key,
    )


def snapshot(database, omit: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every derived row as plain values, without the columns named in ``omit``."""
    with database.read() as session:
        return {
            table.__tablename__: [  # type: ignore[attr-defined]
                tuple(
                    getattr(row, c.name)
                    for c in table.__table__.columns  # type: ignore[attr-defined]
                    if c.name not in omit
                )
                for row in session.scalars(select(table).order_by(table.id))  # type: ignore[attr-defined]
            ]
            for table in DERIVED
        }


@pytest.fixture
def folded(database):
    """The sample items, cases, moderation's records, a decision, an audit record and an
    emergency switch, folded batch by batch as a projector would."""
    settings = Settings()
    topics = Topics(settings)
    names = topics.names
    folder = Folder(settings, database)
    items = {item.id: item for item in sample_items()}
    folder.fold(topics.send(names.review, *items.values()))
    folder.fold(topics.send(names.cases, *sample_cases()))
    folder.fold(
        topics.send(
            names.moderation,
            note("i-rude"),
            note("i-fake", "closed", outcome="hide", decided_by="maya", decided_at=NOW),
        )
    )
    # An older open record after the closed one (as a replayed send may bring).
    folder.fold(topics.send(names.moderation, note("i-fake", recommendation="late")))
    folder.fold(topics.send(names.decisions, hide("i-rude", items["i-rude"].comment.author_key)))
    folder.fold(topics.send(names.audit, earlier_block()))
    change = EmergencyChange(id="e-1", active=True, by="maya", reason="flood", at=NOW)
    folder.fold(topics.send(names.emergency, change))
    return settings, topics, folder


def queue_row(database, item_id: str) -> QueueItemRow:
    with database.read() as session:
        row = session.get(QueueItemRow, item_id)
        assert row is not None
        return row


def test_a_reply_item_carries_its_case_due_time_and_closure(folded, database):
    """A response item's queue row has its case's received and due times, and closes when
    a later version of the case is closed."""
    settings, topics, folder = folded
    pothole = next(c for c in sample_cases() if c.item_id == "i-pothole")
    row = queue_row(database, "i-pothole")
    assert row.status == "open"
    assert ReviewItem.model_validate(row.record).due_at == pothole.due_at
    assert row.record["created_at"].startswith(pothole.received_at.strftime("%Y-%m-%dT%H:%M"))
    before = row.version
    closed = pothole.model_copy(
        update={"status": "closed", "closed_at": NOW, "closed_by": "replied"}
    )
    folder.fold(topics.send(settings.topics.cases, closed))
    row = queue_row(database, "i-pothole")
    assert (row.status, row.version > before) == ("closed", True)
    assert row.record["note"] == "reply case closed: replied"


def test_moderation_closure_is_final_and_decisions_close_items(folded, database):
    """moderation's closed record stays though an open one is read after it, and closes
    the item; a closing decision closes its item with who decided."""
    with database.read() as session:
        fake = session.get(ModerationRow, "i-fake")
        assert fake is not None
        assert fake.status == "closed"
        assert fake.record["recommendation"] == "Hide the post"
    fake_row = queue_row(database, "i-fake")
    assert (fake_row.status, fake_row.record["outcome"]) == ("closed", "hide")
    rude = queue_row(database, "i-rude")
    assert (rude.status, rude.record["decided_by"]) == ("closed", "olivia")
    assert queue_row(database, "i-flood").status == "open"


def test_the_author_ledger_is_folded_from_the_audit_records(folded, database):
    """The author's ledger row holds the block, its appeal date and the account's name."""
    block = earlier_block()
    with database.read() as session:
        row = session.get(LedgerRow, block.author_key)
        assert row is not None
        assert row.blocked is True
        assert row.appealable_from == block.appealable_from
        assert row.record["account_name"] == "Rumour Mill"
        assert [b["decision_id"] for b in row.record["blocks"]] == ["d-old-block"]
        (switch,) = session.scalars(select(EmergencyRow))
        assert (switch.id, switch.active) == ("e-1", True)


def test_a_replay_and_a_rebuild_change_no_derived_row(folded, database):
    """Folding every message again, in one batch or refolded from empty tables, leaves
    the queue, ledgers, moderation and emergency rows exactly as they were."""
    _, topics, folder = folded
    before = snapshot(database)
    snapshot_before = snapshot(database, omit=("version",))
    folder.fold(topics.sent)
    assert snapshot(database) == before
    for message in topics.sent:
        folder.fold([message])
    assert snapshot(database) == before
    folder.empty()
    assert all(not rows for rows in snapshot(database).values())
    for message in topics.sent:
        folder.fold([message])
    # A rebuild numbers versions afresh; every other value is the same.
    assert snapshot(database, omit=("version",)) == snapshot_before


def test_an_erased_author_is_redacted_in_the_queue_and_ledger(folded, database):
    """An erasure read after the author's records blanks their text in the queue row and
    their name in the ledger; the block and its appeal date stay."""
    settings, topics, folder = folded
    block: AuditRecord = earlier_block()
    fake = next(i for i in sample_items() if i.id == "i-fake")
    erasure = Erasure(author_key=block.author_key, erased_at=NOW, by="ada", reason="request")
    folder.fold(topics.send(settings.topics.erasures, erasure))
    assert queue_row(database, fake.id).record["comment"]["text"] == ERASED
    with database.read() as session:
        ledger = session.get(LedgerRow, block.author_key)
        assert ledger is not None
        assert ledger.record["account_name"] is None
        assert ledger.appealable_from == block.appealable_from
    # And a record of theirs read after the erasure is redacted as it is folded.
    later = fake.model_copy(update={"due_at": NOW + timedelta(hours=1)})
    folder.fold(topics.send(settings.topics.review, later))
    assert queue_row(database, fake.id).record["comment"]["text"] == ERASED


def test_cases_alone_make_no_queue_row(database):
    """A case whose item has not been read yet leaves the queue alone until it is."""
    settings = Settings()
    topics = Topics(settings)
    folder = Folder(settings, database)
    case: Case = sample_cases()[0]
    folder.fold(topics.send(settings.topics.cases, case))
    with database.read() as session:
        assert session.get(QueueItemRow, case.item_id) is None
    item = next(i for i in sample_items() if i.id == case.item_id)
    folder.fold(topics.send(settings.topics.review, item))
    assert ReviewItem.model_validate(queue_row(database, item.id).record).due_at == case.due_at
