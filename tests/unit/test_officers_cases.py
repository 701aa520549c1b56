"""The officers' view lays each reply case over the response item that opened it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from records import Comment, ReviewItem, Verdict
from records.ids import review_item_id
from records.sla import Case
from worker.clock import ManualClock
from worker.moderation.policy import ModerationConfig
from worker.moderation.review_view import ModerationState

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
COMMENT = Comment.model_validate(
    {
        "id": "c1",
        "platform": "facebook",
        "channel": "nherts",
        "kind": "comment",
        "thread_id": "t1",
        "author": {"id": "a1"},
        "text": "pothole",
        "created_at": NOW,
        "received_at": NOW,
    }
)
VERDICT = Verdict(labels=("service_request",), scores={"service_request": 0.9})


def item(lane: str) -> ReviewItem:
    return ReviewItem(
        id=review_item_id(COMMENT, lane),  # type: ignore[arg-type]
        lane=lane,  # type: ignore[arg-type]
        comment=COMMENT,
        verdict=VERDICT,
        created_at=NOW + timedelta(seconds=3),
    )


def case(status: str = "open", **extra) -> Case:
    return Case(
        id="case-1",
        conversation_key=COMMENT.conversation_key,
        number=1,
        platform="facebook",
        channel="nherts",
        status=status,  # type: ignore[arg-type]
        opened_by="comment:facebook:c1",
        author_key="facebook:a1",
        item_id=review_item_id(COMMENT, "response"),
        received_at=NOW,
        due_at=NOW + timedelta(days=1),
        target_hours=8.0,
        **extra,
    )


def state() -> ModerationState:
    return ModerationState(ModerationConfig(), ManualClock(NOW))


def test_the_case_gives_the_response_item_its_times_and_note():
    """Received and due times and the suggested acknowledgement come from the case."""
    view = state()
    view.add_case(case(suggested_reply="We are closed; we reply tomorrow."))
    view.add_item(item("response"))
    shown = view.get(item("response").id)
    assert shown is not None
    assert (shown.status, shown.created_at, shown.due_at) == ("open", NOW, NOW + timedelta(days=1))
    assert shown.note == "We are closed; we reply tomorrow."


def test_a_closed_case_closes_its_item():
    """A case closed by the council's reply closes the item, with the reason as its note."""
    view = state()
    view.add_item(item("response"))
    view.add_case(case())
    view.add_case(case("closed", closed_by="council_reply", closed_at=NOW))
    shown = view.get(item("response").id)
    assert shown is not None
    assert (shown.status, shown.outcome, shown.note) == (
        "closed",
        "closed",
        "reply case closed: council_reply",
    )
    assert view.list_items("response") == []


def test_a_case_leaves_the_other_lanes_alone():
    """Only the response item takes the case; the moderation item of the comment does not."""
    view = state()
    view.add_item(item("moderation"))
    view.add_case(
        case("closed", closed_by="council_reply", closed_at=NOW).model_copy(
            update={"item_id": item("moderation").id}
        )
    )
    shown = view.get(item("moderation").id)
    assert shown is not None
    assert (shown.status, shown.due_at) == ("open", None)
