"""The bundled data: the demo's sample feed and the council-domain labelled examples."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from records import Comment
from worker.demo import SAMPLE_FEED, SAMPLE_FEED_LABELS

CATEGORIES = {"service_request", "abusive", "misinformation", "spam"}
COUNCIL_DATA = Path(__file__).resolve().parents[2] / "classifiers" / "data" / "council"
REPLAY_AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def feed() -> list[dict[str, Any]]:
    return _read_jsonl(SAMPLE_FEED)


@pytest.fixture(scope="module")
def feed_labels() -> dict[str, list[str]]:
    return {row["id"]: row["labels"] for row in _read_jsonl(SAMPLE_FEED_LABELS)}


def _as_comment(template: dict[str, Any]) -> Comment:
    at = REPLAY_AT + timedelta(minutes=template["offset_minutes"])
    fields = {k: v for k, v in template.items() if k != "offset_minutes"}
    return Comment.model_validate({**fields, "created_at": at, "received_at": at})


def test_feed_has_at_least_300_lines(feed):
    """The demo feed is big enough to fill every lane and the author ledger."""
    assert len(feed) >= 300


def test_every_feed_line_is_a_valid_comment_once_timestamped(feed):
    """Each template becomes a valid Comment when the replay fills in its timestamps."""
    for template in feed:
        assert "created_at" not in template
        assert "received_at" not in template
        assert isinstance(template["offset_minutes"], int | float)
        assert template["offset_minutes"] <= 0
        comment = _as_comment(template)
        assert comment.text.strip()


def test_feed_ids_are_unique(feed):
    """No two comments in the feed share a platform and id."""
    keys = Counter((t["platform"], t["id"]) for t in feed)
    assert [k for k, n in keys.items() if n > 1] == []


def test_feed_is_in_replay_order(feed):
    """The lines are ordered by offset, so a replay in file order keeps each thread in order."""
    offsets = [t["offset_minutes"] for t in feed]
    assert offsets == sorted(offsets)


def test_council_replies_follow_a_resident_in_the_same_thread(feed):
    """Every council reply answers an existing conversation whose resident post came earlier."""
    first_resident: dict[tuple[str, str], float] = {}
    for t in feed:
        key = (t["platform"], t["thread_id"])
        if not t["author"]["is_council"] and key not in first_resident:
            first_resident[key] = t["offset_minutes"]
    replies = [t for t in feed if t["author"]["is_council"] and t["kind"] != "post"]
    assert len(replies) >= 30
    for reply in replies:
        key = (reply["platform"], reply["thread_id"])
        assert key in first_resident, reply["id"]
        assert first_resident[key] < reply["offset_minutes"], reply["id"]


def test_replies_point_at_a_comment_in_their_thread(feed):
    """A reply's in_reply_to names a comment of the same conversation that came before it."""
    seen: dict[str, tuple[str, str]] = {}
    for t in feed:
        if t["in_reply_to"] is not None:
            assert seen.get(t["in_reply_to"]) == (t["platform"], t["thread_id"]), t["id"]
        seen[t["id"]] = (t["platform"], t["thread_id"])


def test_some_residents_follow_up_after_the_council_replied(feed):
    """Some threads carry a resident follow-up after the council's reply, for the SLA agent."""
    council_seen: set[tuple[str, str]] = set()
    follow_ups = 0
    for t in feed:
        key = (t["platform"], t["thread_id"])
        if t["author"]["is_council"]:
            council_seen.add(key)
        elif key in council_seen:
            follow_ups += 1
    assert follow_ups >= 5


def test_some_authors_offend_repeatedly(feed, feed_labels):
    """A few authors post several abusive comments, so the author ledger has repeat offenders."""
    abusive_by_author = Counter(
        (t["platform"], t["author"]["id"])
        for t in feed
        if "abusive" in feed_labels.get(t["id"], [])
    )
    assert sum(1 for n in abusive_by_author.values() if n >= 3) >= 2


def test_labels_cover_every_resident_comment_and_category(feed, feed_labels):
    """Each resident comment has expected labels, and every category appears among them."""
    resident_ids = {t["id"] for t in feed if not t["author"]["is_council"]}
    assert set(feed_labels) == resident_ids
    seen = Counter(label for labels in feed_labels.values() for label in labels)
    assert set(seen) == CATEGORIES
    assert any(not labels for labels in feed_labels.values())


@pytest.mark.parametrize("split", ["train", "test"])
def test_council_examples_parse_with_valid_labels(split):
    """Each council example has non-empty text and labels drawn from the four categories."""
    rows = _read_jsonl(COUNCIL_DATA / f"{split}.jsonl")
    assert len(rows) >= (800 if split == "train" else 300)
    for row in rows:
        assert isinstance(row["text"], str)
        assert row["text"].strip()
        assert set(row["labels"]) <= CATEGORIES
        assert len(row["labels"]) == len(set(row["labels"]))
    seen = Counter(label for row in rows for label in row["labels"])
    assert set(seen) == CATEGORIES


def test_council_train_and_test_share_no_text():
    """No example text appears in both the training and the held-out file."""

    def texts(split: str) -> set[str]:
        return {
            " ".join(r["text"].lower().split())
            for r in _read_jsonl(COUNCIL_DATA / f"{split}.jsonl")
        }

    assert texts("train") & texts("test") == set()
