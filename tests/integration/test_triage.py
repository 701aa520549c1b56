"""The triage agent on a real broker: verdicts, review items per lane, council replies."""

from __future__ import annotations

import pytest

from records import ReviewItem, TriageResult
from tests.integration.conftest import make_comment
from worker.triage import review_item_id

pytestmark = pytest.mark.integration


async def test_comments_give_verdicts_and_review_items_per_lane(
    running_worker, produce, read_topic
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

    items = await read_topic(worker.topics.review, 4, ReviewItem)
    lanes = sorted((i.comment.id, i.lane) for i in items)
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
