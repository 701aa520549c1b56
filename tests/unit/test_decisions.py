"""Checking officers' decisions: roles, lanes, required fields, item and author state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from records import Author, Comment, ReviewItem, Verdict
from records.ids import decision_id, keyed_decision_id
from records.moderation import ACTIONS, CLOSING_ACTIONS, AuditRecord, Decision
from worker.moderation.decisions import (
    DecisionRefused,
    DecisionRequest,
    build_decision,
    may,
)
from worker.moderation.ledger import fold

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def item(lane="moderation", status="open", outcome=None, labels=("abusive",)) -> ReviewItem:
    comment = Comment(
        id="c1",
        platform="x",
        channel="nhdc",
        kind="reply",
        thread_id="t1",
        author=Author(id="a1"),
        text="words",
        created_at=NOW,
        received_at=NOW,
    )
    verdict = Verdict(labels=labels, scores={"abusive": 0.9}, lane=lane)
    return ReviewItem(
        id="i1",
        lane=lane,
        status=status,
        outcome=outcome,
        comment=comment,
        verdict=verdict,
        created_at=NOW,
    )


def decide(
    action, role="officer", it=None, ledger=None, previous=None, now=NOW, user="sam", **fields
):
    request = DecisionRequest(item_id="i1", action=action, **fields)
    return build_decision(
        request,
        user=user,
        role=role,
        item=it if it is not None else item(),
        ledger=ledger,
        previous=previous,
        now=now,
    )


def refused(status, *args, **kwargs) -> str:
    with pytest.raises(DecisionRefused) as caught:
        decide(*args, **kwargs)
    assert caught.value.status == status
    return caught.value.message


def blocked_ledger(at=NOW):
    record = AuditRecord(
        id="d-b",
        decision_id="d-b",
        item_id="i0",
        author_key="x:a1",
        platform="x",
        author_id="a1",
        channel="nhdc",
        comment_key="x:c0",
        posted_at=at,
        text="t",
        action="block",
        decided_by="boss",
        decided_at=at,
    )
    return fold([record])["x:a1"]


def test_officer_hides_an_open_item():
    """An officer's hide on an open moderation item becomes a Decision with its keys."""
    decision, repeat = decide("hide")
    assert (decision.action, decision.by, decision.author_key, repeat) == (
        "hide",
        "sam",
        "x:a1",
        False,
    )


def test_decision_ids_are_deterministic():
    """The same officer, item and action always give the same decision id."""
    assert decide("hide")[0].id == decision_id("i1", "hide", "sam")
    assert decision_id("i1", "hide", "sam") != decision_id("i1", "warn", "sam")


def test_officer_may_not_block():
    """A block needs the manager role: an officer is refused with 403."""
    assert "manager" in refused(403, "block")


def test_viewer_may_not_decide():
    """A viewer can read but takes no decisions."""
    refused(403, "hide", role="viewer")
    assert may("admin", "block")


def test_unknown_item_is_404():
    """A decision on an item the view does not know is refused with 404."""
    with pytest.raises(DecisionRefused) as caught:
        build_decision(
            DecisionRequest(item_id="nope", action="hide"),
            user="sam",
            role="officer",
            item=None,
            ledger=None,
            previous=None,
            now=NOW,
        )
    assert caught.value.status == 404


def test_closing_a_closed_item_is_409():
    """Hiding an item that was already closed is refused with 409."""
    refused(409, "hide", it=item(status="closed", outcome="delete"))


def test_author_steps_may_follow_on_a_closed_item():
    """A warning may follow once the post has been hidden and the item closed."""
    assert decide("warn", it=item(status="closed", outcome="hide"))[0].action == "warn"


def test_nothing_follows_a_dismissal():
    """An item dismissed as no breach cannot lead to a warning."""
    refused(409, "warn", it=item(status="closed", outcome="dismiss"))


def test_repeat_is_reported_not_refused():
    """The same decision again comes back as first taken, flagged a repeat, on a closed item."""
    first, _ = decide("hide", note="rude")
    later = NOW + timedelta(minutes=5)
    again, repeat = decide(
        "hide", it=item(status="closed", outcome="hide"), previous=first, note="rude", now=later
    )
    assert repeat
    assert again == first


def test_same_id_with_other_content_is_409():
    """A decision whose id was already used for different details is refused with 409."""
    first, _ = decide("relabel", labels=("spam",))
    assert "different details" in refused(409, "relabel", labels=("abusive",), previous=first)
    keyed, _ = decide("warn", id="retry-1")
    assert "under this id" in refused(409, "hide", id="retry-1", previous=keyed)


def test_a_client_key_gives_an_id_of_that_user_only():
    """The id sent by a client is hashed with the user's name: no one can claim another's."""
    mine, _ = decide(
        "unblock",
        role="manager",
        user="maya",
        id="k1",
        approved_by="MD",
        ledger=blocked_ledger(),
        now=NOW + timedelta(days=366),
    )
    theirs, _ = decide("warn", user="olly", id="k1")
    assert mine.id == keyed_decision_id("maya", "k1")
    assert theirs.id == keyed_decision_id("olly", "k1") != mine.id
    # Nor can a key reproduce the id the server makes when no key is sent.
    assert decide("warn", user="olly", id=decision_id("i1", "unblock", "maya"))[0].id != (
        decision_id("i1", "unblock", "maya")
    )


def test_a_malformed_client_key_is_422():
    """A retry key outside the allowed characters or length is refused with 422."""
    refused(422, "hide", id="has space")
    refused(422, "hide", id="x" * 101)


def test_police_report_needs_reference():
    """report_police without a reference is refused with 422."""
    assert "reference" in refused(422, "report_police")
    assert decide("report_police", reference="HC-123")[0].reference == "HC-123"


def test_relabel_needs_known_labels():
    """relabel needs labels, and only the four categories."""
    refused(422, "relabel")
    refused(422, "relabel", labels=("rude",))
    assert decide("relabel", labels=("spam",))[0].labels == ("spam",)


def test_channel_ban_is_for_misinformation():
    """ban_from_channel is refused unless the post is misinformation."""
    refused(422, "ban_from_channel")
    assert decide("ban_from_channel", it=item(labels=("misinformation",)))[0]


def test_lane_limits_actions():
    """A response-lane item takes reply decisions, not moderation ones."""
    refused(422, "hide", it=item(lane="response", labels=("service_request",)))
    assert decide("replied", it=item(lane="response"))[0].lane == "response"


def test_unknown_action_is_422():
    """An action that does not exist is refused with the list of actions."""
    assert "dismiss" in refused(422, "shout")


def test_block_twice_is_409():
    """A manager cannot block an author who is already blocked."""
    refused(409, "block", role="manager", ledger=blocked_ledger())


def test_unblock_waits_for_the_appeal_date_and_approval():
    """Unblocking needs the Managing Director's approval and the appeal date reached."""
    ledger = blocked_ledger()
    refused(422, "unblock", role="manager", ledger=ledger)
    refused(409, "unblock", role="manager", ledger=ledger, approved_by="MD")
    later = NOW + timedelta(days=366)
    decision, _ = decide("unblock", role="manager", ledger=ledger, approved_by="MD", now=later)
    assert decision.approved_by == "MD"
    refused(409, "unblock", role="manager", approved_by="MD", now=later)


def test_view_closes_an_item_when_its_decision_is_seen():
    """The review view lays decisions over items: a hide closes, a relabel changes labels."""
    from worker.clock import ManualClock
    from worker.moderation.policy import ModerationConfig
    from worker.moderation.review_view import ModerationState, ReviewView, fill

    state = fill(ModerationState(ModerationConfig(), ManualClock(NOW)), [item()])
    view = ReviewView(state)
    assert view.get("i1").recommended == ("hide", "warn")
    relabel, _ = decide("relabel", labels=("spam",))
    hide, _ = decide("hide")
    fill(state, [relabel, hide, hide])
    current = view.get("i1")
    assert (current.status, current.outcome, current.decided_by) == ("closed", "hide", "sam")
    assert current.verdict.labels == ("spam",)
    assert view.items() == []
    assert len(view.decisions("i1")) == 2


def test_exactly_the_decisions_about_the_post_close_an_item():
    """In the review view an item closes on dismiss, hide, delete, a channel ban or a reply
    decision (docs/moderation.md), and stays open after a step about the author."""
    from worker.clock import ManualClock
    from worker.moderation.policy import ModerationConfig
    from worker.moderation.review_view import ModerationState, ReviewView, fill

    closing = set()
    for action in ACTIONS:
        state = fill(ModerationState(ModerationConfig(), ManualClock(NOW)), [item(lane="urgent")])
        made = Decision(
            id=f"d-{action}",
            item_id="i1",
            lane="urgent",
            action=action,
            by="sam",
            role="manager",
            decided_at=NOW,
        )
        fill(state, [made])
        if ReviewView(state).get("i1").status == "closed":
            closing.add(action)
    documented = {"dismiss", "hide", "delete", "ban_from_channel"}
    assert (
        closing == CLOSING_ACTIONS == documented | {"replied", "no_reply_needed", "moved_private"}
    )


def test_label_examples_from_decisions():
    """A dismissal drops the moderation labels (a correction); a hide confirms them."""
    from worker.moderation.step import label_example

    dismissed = label_example(item(), decide("dismiss")[0])
    assert (dismissed.labels, dismissed.source) == ((), "corrected")
    confirmed = label_example(item(), decide("hide")[0])
    assert (confirmed.labels, confirmed.source) == (("abusive",), "confirmed")
    assert (
        label_example(item(lane="response"), decide("no_reply_needed", it=item(lane="response"))[0])
        is None
    )


def test_reply_decisions_teach_whether_a_comment_was_a_query():
    """ "No reply needed" on a labelled request removes the label; a reply to a possible query
    adds it; "no reply needed" on a possible query confirms the model's "not a request"."""
    from worker.moderation.step import label_example

    request = item(lane="response", labels=("service_request",))
    corrected = label_example(request, decide("no_reply_needed", it=request)[0])
    assert (corrected.labels, corrected.source) == ((), "corrected")
    unsure = item(lane="response", labels=())
    unsure = unsure.model_copy(
        update={"verdict": unsure.verdict.model_copy(update={"possible_query": True})}
    )
    answered = label_example(unsure, decide("replied", it=unsure)[0])
    assert (answered.labels, answered.source) == (("service_request",), "corrected")
    not_needed = label_example(unsure, decide("no_reply_needed", it=unsure)[0])
    assert (not_needed.labels, not_needed.source) == ((), "confirmed")
