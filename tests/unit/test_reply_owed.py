"""One predicate says which comments are owed a reply: the SLA opens a case for exactly
those, and triage gives exactly those (and the ones its lanes route) a response item."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from records import Comment, TriageResult, Verdict
from records.sla import asks_for_reply
from worker.sla.cases import event_from_result, response_item_id
from worker.triage import outputs_for

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SCORES = {"service_request": 0.5, "abusive": 0.1, "misinformation": 0.0, "spam": 0.0}


def comment(kind: str, council: bool = False) -> Comment:
    return Comment.model_validate(
        {
            "id": f"c-{kind}",
            "platform": "facebook",
            "channel": "nherts",
            "kind": kind,
            "thread_id": "t1",
            "author": {"id": "council" if council else "a1", "is_council": council},
            "text": "x",
            "created_at": NOW,
            "received_at": NOW,
        }
    )


CASES = list(
    itertools.product(
        ("comment", "direct_message"),
        ((), ("service_request",), ("spam",)),
        (False, True),
        ((), ("moderation",)),
    )
)


@pytest.mark.parametrize(("kind", "labels", "possible", "lanes"), CASES)
def test_a_case_opens_exactly_where_triage_writes_a_response_item(kind, labels, possible, lanes):
    """For every mix of kind, labels, possible query and lanes, the case opens iff the
    predicate holds, and then triage's response item has the case's item id."""
    c = comment(kind)
    verdict = Verdict(labels=labels, scores=SCORES, possible_query=possible, lanes=lanes)
    owed = asks_for_reply(c, verdict)
    event = event_from_result(TriageResult(comment=c, verdict=verdict, classified_at=NOW))
    items = {i.lane: i for i in outputs_for(c, verdict, NOW).items}
    assert (event.kind == "query") == owed
    assert owed == (kind == "direct_message" or bool(labels == ("service_request",)) or possible)
    if owed:
        assert items["response"].id == event.item_id == response_item_id(c)
    assert set(lanes) <= set(items)


def test_the_councils_own_posts_are_owed_nothing():
    """A council post opens no case and gets no item."""
    post = comment("direct_message", council=True)
    assert not asks_for_reply(post, None)
    assert outputs_for(post, None, NOW).items == ()
