"""The triage agent on a real broker: verdicts, review items per lane, council replies."""

from __future__ import annotations

from typing import Any

import pytest

from records import ReviewItem, TriageResult, decode
from records.ids import review_item_id
from tests.integration.conftest import make_comment

pytestmark = pytest.mark.integration


async def test_comments_give_verdicts_and_review_items_per_lane(
    running_worker, produce, read_topic, read_topic_until
):
    """Each comment gets a verdict; flagged ones get one review item per lane they need."""
    worker = await running_worker()
    comments = [
        make_comment(1, "There is a pothole on the High Street"),
        make_comment(2, "Lovely park, thank you"),
        make_comment(3, "Flood on my road, and the officer is an idiot"),
    ]
    await produce(worker.topics.comments, comments, key=lambda c: c.conversation_key)

    results = await read_topic(worker.topics.verdicts, 3, TriageResult)
    by_id = {r.comment.id: r for r in results}
    assert set(by_id) == {"c1", "c2", "c3"}
    assert by_id["c1"].verdict.labels == ("service_request",)
    assert by_id["c2"].verdict.labels == ()

    # The moderation agent re-writes the moderation and urgent items it enriches (with
    # the author's history) under the same id, so an item may be read twice.
    def lanes_of(records: list[Any]) -> set[tuple[str, str]]:
        return {(i.comment.id, i.lane) for i in (decode(r.value, ReviewItem) for r in records)}

    records = await read_topic_until(worker.topics.review, lambda got: len(lanes_of(got)) >= 4)
    items = [decode(r.value, ReviewItem) for r in records]
    lanes = sorted(lanes_of(records))
    assert lanes == [
        ("c1", "response"),
        ("c3", "moderation"),
        ("c3", "response"),
        ("c3", "urgent"),
    ]
    for item in items:
        assert item.id == review_item_id(item.comment, item.lane)


async def test_council_replies_pass_through_unclassified(running_worker, produce, read_topic):
    """A council reply reaches triage.verdicts with a null verdict, keyed by its thread."""
    worker = await running_worker()
    reply = make_comment(7, "We have passed this on", thread="t1", council=True)
    await produce(worker.topics.comments, [reply], key=lambda c: c.conversation_key)

    [record] = await read_topic(worker.topics.verdicts, 1)
    assert record.key == b"facebook:t1"
    result = TriageResult.model_validate_json(record.value)
    assert result.verdict is None
    assert worker.classifier.calls == []


async def test_the_shipped_classifier_sorts_comments_into_lanes(
    broker, topic_prefix, running_worker, produce, read_topic, read_topic_until
):
    """With the real shipped model and policy, obvious comments land in the expected lanes."""
    import classifiers
    from tests.integration.conftest import worker_settings

    real = classifiers.load(worker_settings(broker, topic_prefix))
    worker = await running_worker(classifier=real)
    comments = [
        make_comment(
            11, "Hi, our green bin wasn't collected on Tuesday, can someone come back for it?"
        ),
        make_comment(12, "Lovely sunny day at the market in Hitchin today"),
        make_comment(13, "There's a strong smell of gas outside number 4, please help"),
        make_comment(14, "you useless c*nts at the council should all be sacked, f*** off"),
    ]
    await produce(worker.topics.comments, comments, key=lambda c: c.conversation_key)

    results = await read_topic(worker.topics.verdicts, 4, TriageResult)
    verdicts = {r.comment.id: r.verdict for r in results}
    assert "service_request" in verdicts["c11"].labels
    assert verdicts["c12"].labels == ()
    assert verdicts["c13"].lane == "urgent"
    assert "abusive" in verdicts["c14"].labels
    assert all(v.model for v in verdicts.values())

    wanted = {("c11", "response"), ("c13", "urgent"), ("c14", "moderation")}

    def lanes(records) -> set[tuple[str, str]]:
        items = [ReviewItem.model_validate_json(r.value) for r in records]
        return {(i.comment.id, i.lane) for i in items}

    records = await read_topic_until(worker.topics.review, lambda got: wanted <= lanes(got))
    assert not any(comment_id == "c12" for comment_id, _ in lanes(records))
