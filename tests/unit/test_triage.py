"""The triage agent's pure helpers: lanes, outputs and batching."""

from __future__ import annotations

from datetime import UTC, datetime

from records import Comment, ReviewItem, Topics, Verdict, decode
from worker.triage import Classified, TriageStep, classify_batch, lanes_of, outputs_for

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SCORES = {"service_request": 0.9, "abusive": 0.1, "misinformation": 0.0, "spam": 0.0}


def comment(i: int, council: bool = False, platform: str = "facebook") -> Comment:
    return Comment.model_validate(
        {
            "id": f"c{i}",
            "platform": platform,
            "channel": "nherts",
            "kind": "comment",
            "thread_id": "t1",
            "author": {"id": f"a{i}", "is_council": council},
            "text": "x",
            "created_at": NOW,
            "received_at": NOW,
        }
    )


def verdict(lane=None, lanes=()) -> Verdict:
    return Verdict(labels=("service_request",), scores=SCORES, lane=lane, lanes=lanes)


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def classify(self, batch):
        self.batches.append([c.id for c in batch])
        return [verdict("response", ("response",)) for _ in batch]


def test_lanes_fall_back_to_the_single_lane():
    """Without ``lanes`` the verdict's ``lane`` is used; without either, no lane."""
    assert lanes_of(verdict("moderation")) == ("moderation",)
    assert lanes_of(verdict()) == ()


def test_outputs_give_one_review_item_per_lane():
    """A verdict with two lanes gives two items, each with its own id."""
    out = outputs_for(comment(1), verdict("urgent", ("urgent", "response")), NOW)
    assert [i.lane for i in out.items] == ["urgent", "response"]
    assert len({i.id for i in out.items}) == 2
    assert out.result.verdict is not None
    assert out.result.classified_at == NOW


def test_council_comment_gives_a_result_without_verdict_or_items():
    """The council's reply becomes a TriageResult with verdict None and no review item."""
    out = outputs_for(comment(1, council=True), None, NOW)
    assert out.result.verdict is None
    assert out.items == ()


def test_classify_batch_skips_council_posts_and_keeps_order():
    """One classifier call per batch, residents only; verdicts line up with the input."""
    recorder = Recorder()
    batch = [comment(1), comment(2, council=True), comment(3)]
    verdicts = classify_batch(recorder, batch)
    assert recorder.batches == [["c1", "c3"]]
    assert [v is None for v in verdicts] == [False, True, False]


def test_classify_batch_of_council_posts_only_calls_nothing():
    """A batch of council replies does not call the classifier at all."""
    recorder = Recorder()
    assert classify_batch(recorder, [comment(1, council=True)]) == [None]
    assert recorder.batches == []


def test_step_writes_the_verdict_row_then_one_item_per_lane():
    """The pure step gives the verdict row keyed by conversation, then each lane's review
    item keyed by its id on triage.review, and keeps no state."""
    topics = Topics("p.")
    record = Classified(comment(1), verdict("urgent", ("urgent", "response")))
    state, out = TriageStep(topics).step(None, record, NOW)
    assert state is None
    assert [w.topic for w in out.writes] == [
        "p.triage.verdicts",
        "p.triage.review",
        "p.triage.review",
    ]
    assert out.writes[0].key == b"facebook:t1"
    items = [decode(w.value, ReviewItem) for w in out.writes[1:]]
    assert [w.key.decode() for w in out.writes[1:]] == [i.id for i in items]
    assert out.lanes == ("urgent", "response")


def test_step_for_a_council_reply_writes_the_verdict_row_only():
    """The council's reply becomes one row on triage.verdicts and no review item."""
    _, out = TriageStep(Topics()).step(None, Classified(comment(1, council=True), None), NOW)
    assert [w.topic for w in out.writes] == ["triage.verdicts"]
    assert out.lanes == ()
