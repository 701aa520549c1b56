"""The deterministic record ids: each input that should change an id does, and the
values stay those already written on the topics."""

from __future__ import annotations

from datetime import UTC, datetime

from records import Comment
from records.ids import (
    automatic_decision_id,
    block_alert_id,
    case_id,
    decision_id,
    keyed_decision_id,
    review_item_id,
    sla_alert_id,
    urgent_alert_id,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def comment(i: int = 1, platform: str = "facebook", **changes: object) -> Comment:
    fields = {
        "id": f"c{i}",
        "platform": platform,
        "channel": "nherts",
        "kind": "comment",
        "thread_id": "t1",
        "author": {"id": f"a{i}", "is_council": False},
        "text": "x",
        "created_at": NOW,
        "received_at": NOW,
    }
    return Comment.model_validate({**fields, **changes})


def test_review_item_id_keeps_its_value():
    """A review item id is the one already on triage.review for that comment and lane."""
    assert review_item_id(comment(), "response") == "rv-3839b19a77d83850b0ad3079"


def test_review_item_id_follows_comment_key_and_lane_only():
    """Same comment and lane give the same id; another lane, id or platform another id."""
    a = review_item_id(comment(), "response")
    assert a == review_item_id(comment(), "response")
    assert a == review_item_id(comment(text="edited", channel="other"), "response")
    assert a != review_item_id(comment(), "urgent")
    assert a != review_item_id(comment(2), "response")
    assert a != review_item_id(comment(platform="x"), "response")


def test_case_id_keeps_its_value():
    """A case id is the one already on triage.cases for that conversation and opening event."""
    assert case_id("facebook:nherts:t1", "comment:facebook:c1") == "case-b9763106ceadf705926710ef"


def test_case_id_follows_conversation_and_opening_event():
    """Another conversation or another opening event gives another case id."""
    a = case_id("facebook:t1", "comment:facebook:c1")
    assert a == case_id("facebook:t1", "comment:facebook:c1")
    assert a != case_id("facebook:t2", "comment:facebook:c1")
    assert a != case_id("facebook:t1", "comment:facebook:c2")


def test_sla_alert_id_keeps_its_value_and_follows_case_and_kind():
    """An SLA alert id is the case id and kind, so each case alerts once per kind."""
    case = "case-b9763106ceadf705926710ef"
    assert sla_alert_id(case, "sla_breach") == "case-b9763106ceadf705926710ef:sla_breach"
    assert sla_alert_id(case, "sla_at_risk") != sla_alert_id(case, "sla_breach")
    assert sla_alert_id("case-other", "sla_breach") != sla_alert_id(case, "sla_breach")


def test_block_alert_id_keeps_its_value_and_follows_action_and_decision():
    """A block alert id names the action and the decision that took it."""
    assert block_alert_id("block", "d-1") == "md-block-d-1"
    assert block_alert_id("unblock", "d-1") != block_alert_id("block", "d-1")
    assert block_alert_id("block", "d-2") != block_alert_id("block", "d-1")


def test_urgent_alert_id_keeps_its_value_and_follows_the_item():
    """An out-of-hours urgent alert id is the review item's id, so each item alerts once."""
    assert urgent_alert_id("rv-1") == "urgent-ooh-rv-1"
    assert urgent_alert_id("rv-2") != urgent_alert_id("rv-1")


def test_decision_id_keeps_its_value():
    """A decision id without a retry key is the one already on triage.decisions."""
    assert decision_id("rv-1", "hide", "sam") == "d-d90b552e15de39fe632e60efb32df114"


def test_decision_id_follows_item_action_and_user():
    """Another item, action or user gives another decision id; the same three the same id."""
    a = decision_id("rv-1", "hide", "sam")
    assert a == decision_id("rv-1", "hide", "sam")
    assert a != decision_id("rv-2", "hide", "sam")
    assert a != decision_id("rv-1", "warn", "sam")
    assert a != decision_id("rv-1", "hide", "maya")


def test_keyed_decision_id_keeps_its_value():
    """A decision id made from a retry key is the one already on triage.decisions."""
    assert keyed_decision_id("maya", "k1") == "k-58dcac421904e5899aecbfb2037eb63b"


def test_keyed_decision_id_follows_user_and_key_and_differs_from_unkeyed():
    """Another user or key gives another id, and keyed ids never look like unkeyed ones."""
    a = keyed_decision_id("maya", "k1")
    assert a == keyed_decision_id("maya", "k1")
    assert a != keyed_decision_id("olly", "k1")
    assert a != keyed_decision_id("maya", "k2")
    assert a.startswith("k-")
    assert decision_id("rv-1", "hide", "sam").startswith("d-")


def test_automatic_decision_id_keeps_its_value_and_follows_item():
    """An automatic hide's decision id is made from its review item alone."""
    assert automatic_decision_id("rv-1") == "auto-rv-1"
    assert automatic_decision_id("rv-2") != automatic_decision_id("rv-1")
