"""The erasure list in the fold, on SQLite and PostgreSQL: an author's records are redacted
whether their erasure is read before them, after them or in the same batch, and nobody
else's are; redaction keeps what the policy's record needs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from records import TriageResult, encode
from records.privacy import Erasure
from tests.e2e.site import NOW, earlier_block, sample_items
from worker.db.erasure import ERASED, redact
from worker.db.models import AlertRow, AuditRow, CommentRow, ErasureRow, ReviewItemRow
from worker.db.projector import Folder
from worker.moderation.step import block_alert
from worker.settings import Settings

SETTINGS = Settings(topic_prefix="t.")
TOPICS = SETTINGS.topics
AUTHOR = "facebook:a5"


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None


def erasure() -> Erasure:
    return Erasure(author_key=AUTHOR, erased_at=NOW, by="ada", reason="request ref 42")


def records(start: int = 0) -> list[Message]:
    """Every sample item with its comment, and the author's block, at offsets from start."""
    out = []
    for item in sample_items():
        result = TriageResult(comment=item.comment, verdict=item.verdict, classified_at=NOW)
        out.append(Message(TOPICS.verdicts, 0, start + len(out), encode(result)))
        out.append(Message(TOPICS.review, 0, start + len(out), encode(item)))
    out.append(Message(TOPICS.audit, 0, start + len(out), encode(earlier_block())))
    return out


def texts(database) -> dict[str, str]:
    """Each folded comment's and audit record's text, by row id."""
    with database.read() as session:
        found = {r.id: r.record["comment"]["text"] for r in session.scalars(select(CommentRow))}
        found.update(
            {r.id: r.record["comment"]["text"] for r in session.scalars(select(ReviewItemRow))}
        )
        found.update({r.id: r.record["text"] for r in session.scalars(select(AuditRow))})
    return found


def assert_only_the_author_erased(database) -> None:
    found = texts(database)
    erased = {"facebook:c-fake", "i-fake", "d-old-block"}
    assert {k for k, v in found.items() if v == ERASED} == erased
    assert found["i-pothole"] == "Huge pothole on Bancroft, who do I tell?"
    with database.read() as session:
        assert session.get(ErasureRow, AUTHOR).by == "ada"


@pytest.mark.parametrize("where", ["before", "after", "same batch"])
def test_the_erasure_applies_wherever_it_is_read(database, where):
    """Read before the author's records, after them, or among them: the same rows end up
    redacted, and no others."""
    folder = Folder(SETTINGS, database)
    if where == "before":
        folder.fold([Message(TOPICS.erasures, 0, 0, encode(erasure()))])
        folder.fold(records())
    elif where == "after":
        folder.fold(records())
        assert ERASED not in texts(database).values()
        folder.fold([Message(TOPICS.erasures, 0, 0, encode(erasure()))])
    else:
        batch = records()
        batch.insert(3, Message(TOPICS.erasures, 0, 99, encode(erasure())))
        folder.fold(batch)
    assert_only_the_author_erased(database)


def test_a_later_version_of_an_erased_record_is_redacted_too(database):
    """A new version of the author's review item, read after the erasure, is folded
    redacted."""
    folder = Folder(SETTINGS, database)
    folder.fold(records())
    folder.fold([Message(TOPICS.erasures, 0, 0, encode(erasure()))])
    fake = next(item for item in sample_items() if item.id == "i-fake")
    closed = fake.model_copy(update={"status": "closed", "outcome": "hide"})
    folder.fold([Message(TOPICS.review, 0, 500, encode(closed))])
    with database.read() as session:
        row = session.get(ReviewItemRow, "i-fake")
        assert row is not None
        assert (row.status, row.record["comment"]["text"]) == ("closed", ERASED)


def test_redaction_keeps_the_record_of_a_block():
    """An audit record loses its text, names and quoted evidence, keeps what was done, by
    whom, when and the appeal date, and redacting twice changes nothing more."""
    record = earlier_block().to_json_dict()
    record["note"] = "Said the same about the water"
    once = redact(AuditRow, record)
    assert (once["text"], once["account_name"], once["account_handle"]) == (ERASED, None, None)
    assert once["note"] == ERASED
    for kept in ("action", "decided_by", "decided_at", "appealable_from", "author_key", "id"):
        assert once[kept] == record[kept]
    assert redact(AuditRow, once) == once
    assert record["text"] == "An older post"  # the input is left alone


def block_notices(offset: int) -> list[Message]:
    """The Managing Director's notice of the author's block, and of another author's."""
    ours = earlier_block()
    theirs = ours.model_copy(
        update={"id": "d-other", "decision_id": "d-other", "author_key": "facebook:a9"}
    )
    return [
        Message(TOPICS.alerts, 0, offset + n, encode(block_alert(record, NOW, [record])))
        for n, record in enumerate((ours, theirs))
    ]


def notices(database) -> dict[str, dict]:
    with database.read() as session:
        return {row.subject: row.record["notice"] for row in session.scalars(select(AlertRow))}


@pytest.mark.parametrize("where", ["before", "after"])
def test_the_block_notice_of_an_erased_author_is_redacted(database, where):
    """The notice's name, handle, quoted posts and note are blanked in the alerts table,
    whether the erasure is read before or after it; another author's notice is kept, and
    so are who decided and the appeal date."""
    folder = Folder(SETTINGS, database)
    if where == "before":
        folder.fold([Message(TOPICS.erasures, 0, 0, encode(erasure()))])
        folder.fold(block_notices(10))
    else:
        folder.fold(block_notices(10))
        assert notices(database)[AUTHOR]["account_name"] == "Rumour Mill"
        folder.fold([Message(TOPICS.erasures, 0, 0, encode(erasure()))])
    found = notices(database)
    ours, theirs = found[AUTHOR], found["facebook:a9"]
    assert (ours["account_name"], ours["account_handle"]) == (None, None)
    assert [post["text"] for post in ours["posts"]] == [ERASED]
    assert (ours["decided_by"], ours["appealable_from"]) == (
        theirs["decided_by"],
        theirs["appealable_from"],
    )
    assert theirs["account_name"] == "Rumour Mill"
    assert [post["text"] for post in theirs["posts"]] == ["An older post"]
