"""The replies sent from the tool in the read side, on SQLite and a real PostgreSQL: each
request and its latest outcome folded by reply id, an outcome given its request's author
whichever is read first, replays changing nothing, erasure blanking the text sent and the
handle (not who sent it), retention deleting them by the decisions' period, and subject
access exporting them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from records.privacy import Erasure
from records.reply import ReplyOutcome, ReplyRequest
from records.retention import RetentionPolicy
from tests.e2e.site import NOW, sample_items
from tests.integration.test_read_side_folds import Topics
from worker.db.erasure import ERASED
from worker.db.models import ReplyOutcomeRow, ReplyRequestRow
from worker.db.privacy import subject_access, write_export
from worker.db.projector import Folder
from worker.db.retention import apply_retention
from worker.settings import Settings
from worker.users import UserStore

pytestmark = pytest.mark.integration

SETTINGS = Settings(topic_prefix="t.")
TOPICS = SETTINGS.topics
ITEMS = {item.id: item for item in sample_items()}
# i-bins: the reply goes to facebook:a4, whose handle is binwatch.
AUTHOR = "facebook:a4"
OTHER = "facebook:a3"
SENT_TEXT = "Thank you, binwatch: the crew will be back on Walsworth Road tomorrow."


def request(item_id: str, text: str, reply_id: str, **extra: object) -> ReplyRequest:
    comment = ITEMS[item_id].comment
    return ReplyRequest(
        id=reply_id,
        item_id=item_id,
        comment_key=comment.comment_key,
        platform=comment.platform,
        channel=comment.channel,
        thread_id=comment.thread_id,
        author_id=comment.author.id,
        author_handle=comment.author.handle,
        text=text,
        requested_by="olivia",
        requested_at=NOW,
        **extra,  # type: ignore[arg-type]
    )


def outcome(asked: ReplyRequest, status: str, **extra: object) -> ReplyOutcome:
    return ReplyOutcome(
        reply_id=asked.id,
        item_id=asked.item_id,
        comment_key=asked.comment_key,
        platform=asked.platform,
        status=status,  # type: ignore[arg-type]
        text=asked.text,
        requested_by=asked.requested_by,
        at=extra.pop("at", NOW + timedelta(minutes=1)),  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


BINS = request("i-bins", SENT_TEXT, "r-bins")
POTHOLE = request("i-pothole", "Thanks Jo, passed to highways.", "r-pothole")


def replies(database) -> dict[str, tuple[dict, dict | None]]:
    """Per reply id: the request's row (columns and record) and the outcome's, if any."""
    with database.read() as session:
        outcomes = {r.id: r for r in session.scalars(select(ReplyOutcomeRow))}
        out: dict[str, tuple[dict, dict | None]] = {}
        for r in session.scalars(select(ReplyRequestRow)):
            o = outcomes.pop(r.id, None)
            out[r.id] = (
                {"author_key": r.author_key, "by": r.requested_by, "record": r.record},
                None
                if o is None
                else {"author_key": o.author_key, "status": o.status, "record": o.record},
            )
        for o in outcomes.values():
            out[o.id] = ({}, {"author_key": o.author_key, "status": o.status, "record": o.record})
        return out


def test_requests_and_outcomes_are_folded_by_reply_id(database):
    """A request and its outcomes become one row each, the outcome the latest (sent) with
    the request's author; a manager's approval replaces the request's earlier version."""
    topics = Topics(SETTINGS)
    folder = Folder(SETTINGS, database)
    folder.fold(topics.send(TOPICS.reply_requests, BINS, POTHOLE))
    approved = BINS.model_copy(update={"approved_by": "maya", "approved_at": NOW})
    folder.fold(topics.send(TOPICS.reply_requests, approved))
    folder.fold(
        topics.send(
            TOPICS.reply_outcomes,
            outcome(BINS, "sending"),
            outcome(BINS, "sent", posted_id="fb-reply-9"),
        )
    )
    found = replies(database)
    bins_request, bins_outcome = found["r-bins"]
    assert bins_request["author_key"] == AUTHOR
    assert bins_request["record"]["approved_by"] == "maya"
    assert bins_outcome is not None
    assert (bins_outcome["author_key"], bins_outcome["status"]) == (AUTHOR, "sent")
    assert bins_outcome["record"]["posted_id"] == "fb-reply-9"
    assert found["r-pothole"][0]["author_key"] == OTHER
    assert found["r-pothole"][1] is None


def test_an_outcome_read_before_its_request_gets_the_author_later(database):
    """An outcome folded before its request has no author until the request is read,
    then the request's; folding everything again (a replay) changes no row."""
    topics = Topics(SETTINGS)
    folder = Folder(SETTINGS, database)
    folder.fold(topics.send(TOPICS.reply_outcomes, outcome(BINS, "sent")))
    assert replies(database)["r-bins"][1]["author_key"] is None  # type: ignore[index]
    folder.fold(topics.send(TOPICS.reply_requests, BINS))
    before = replies(database)
    assert before["r-bins"][1]["author_key"] == AUTHOR  # type: ignore[index]
    folder.fold(topics.sent)
    for message in topics.sent:
        folder.fold([message])
    assert replies(database) == before


def erasure() -> Erasure:
    return Erasure(author_key=AUTHOR, erased_at=NOW, by="ada", reason="request ref 42")


def assert_reply_erased(database) -> None:
    found = replies(database)
    asked, told = found["r-bins"]
    assert asked["record"]["text"] == ERASED
    assert asked["record"]["author_handle"] is None
    assert (asked["by"], asked["record"]["requested_by"]) == ("olivia", "olivia")
    assert told is not None
    assert told["record"]["text"] == ERASED
    assert told["record"]["requested_by"] == "olivia"
    assert "binwatch" not in json.dumps(found["r-bins"])
    # Nobody else's reply is touched.
    assert found["r-pothole"][0]["record"]["text"] == POTHOLE.text


@pytest.mark.parametrize("order", ["erasure first", "erasure last", "outcome before request"])
def test_erasure_blanks_the_reply_text_and_handle(database, order):
    """The text sent to an erased person and their handle are blanked whether the erasure
    is read before the replies, after them, or between an outcome and its request; who
    sent it stays, and other people's replies are untouched."""
    topics = Topics(SETTINGS)
    folder = Folder(SETTINGS, database)
    sent = outcome(BINS, "sent")
    if order == "erasure first":
        folder.fold(topics.send(TOPICS.erasures, erasure()))
        folder.fold(topics.send(TOPICS.reply_requests, BINS, POTHOLE))
        folder.fold(topics.send(TOPICS.reply_outcomes, sent))
    elif order == "erasure last":
        folder.fold(topics.send(TOPICS.reply_requests, BINS, POTHOLE))
        folder.fold(topics.send(TOPICS.reply_outcomes, sent))
        folder.fold(topics.send(TOPICS.erasures, erasure()))
    else:
        folder.fold(topics.send(TOPICS.reply_outcomes, sent))
        folder.fold(topics.send(TOPICS.erasures, erasure()))
        folder.fold(topics.send(TOPICS.reply_requests, BINS, POTHOLE))
    assert_reply_erased(database)
    # A rebuild: empty tables, every message again.
    folder.empty()
    folder.fold(topics.sent)
    assert_reply_erased(database)


def test_retention_deletes_replies_past_the_decisions_period(database):
    """Requests and outcomes older than retention.decisions_days go, newer ones stay,
    and the counts are returned per table."""
    topics = Topics(SETTINGS)
    folder = Folder(SETTINGS, database)
    old = request("i-pothole", "An old reply", "r-old").model_copy(
        update={"requested_at": NOW - timedelta(days=2200)}
    )
    folder.fold(topics.send(TOPICS.reply_requests, BINS, old))
    folder.fold(
        topics.send(
            TOPICS.reply_outcomes,
            outcome(BINS, "sent"),
            outcome(old, "sent", at=NOW - timedelta(days=2200)),
        )
    )
    deleted = apply_retention(database, RetentionPolicy(), by="test", now=NOW)
    assert (deleted["reply_requests"], deleted["reply_outcomes"]) == (1, 1)
    assert set(replies(database)) == {"r-bins"}


def test_subject_access_exports_the_replies_sent_to_a_person(database, tmp_path):
    """The export holds the requests and outcomes of replies to the person, as JSON and
    CSV, and none sent to anyone else."""
    topics = Topics(SETTINGS)
    folder = Folder(SETTINGS, database)
    folder.fold(topics.send(TOPICS.reply_requests, BINS, POTHOLE))
    folder.fold(topics.send(TOPICS.reply_outcomes, outcome(BINS, "sent"), outcome(POTHOLE, "sent")))
    UserStore(database).add("maya", "manager", "a long enough password")
    export = subject_access(database, AUTHOR, by="maya", now=NOW)
    assert [row["id"] for row in export.sections["reply_requests"]] == ["r-bins"]
    assert export.sections["reply_requests"][0]["record"]["text"] == SENT_TEXT
    assert [row["id"] for row in export.sections["reply_outcomes"]] == ["r-bins"]
    written = write_export(export, tmp_path / "export")
    assert {p.name for p in written} >= {"reply_requests.csv", "reply_outcomes.csv"}
    assert "Thanks Jo" not in (tmp_path / "export" / "subject-access.json").read_text()
