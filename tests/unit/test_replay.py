"""Reading feeds for ``triage replay``: JSON Lines, templates with offsets, CSV."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from worker.replay import ReplayError, load_feed

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TEMPLATE = {
    "schema": 1,
    "id": "c1",
    "platform": "facebook",
    "channel": "nherts",
    "kind": "comment",
    "thread_id": "t1",
    "author": {"id": "a1"},
    "text": "Bins missed",
    "offset_minutes": -30,
}


def test_templates_get_times_relative_to_now(tmp_path):
    """offset_minutes becomes created_at (now + offset) and a received_at just after it."""
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps(TEMPLATE) + "\n\n", encoding="utf-8")
    [comment] = load_feed(feed, now=NOW)
    assert comment.created_at == NOW - timedelta(minutes=30)
    assert comment.received_at > comment.created_at


def test_full_comments_keep_their_times(tmp_path):
    """A line with its own timestamps is taken as it is."""
    row = {k: v for k, v in TEMPLATE.items() if k != "offset_minutes"}
    row |= {"created_at": "2026-01-05T09:00:00Z", "received_at": "2026-01-05T09:00:03Z"}
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps(row), encoding="utf-8")
    [comment] = load_feed(feed, now=NOW)
    assert comment.created_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_bad_line_is_reported_with_its_number_and_without_its_text(tmp_path):
    """The first invalid line stops the load with its line number and the field at fault."""
    bad = {**TEMPLATE, "kind": "shout", "text": "secret 07700900123"}
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps(TEMPLATE) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(ReplayError, match="line 2: kind") as info:
        load_feed(feed, now=NOW)
    assert "07700" not in str(info.value)


def test_csv_columns_are_mapped_to_comment_fields(tmp_path):
    """CSV columns map onto fields (author.* included); kind and thread default sensibly."""
    feed = tmp_path / "feed.csv"
    feed.write_text(
        "post_id,site,account,body,user,council,posted,seen\n"
        "p1,x,nherts,Pothole on Bancroft,u9,no,2026-01-05T09:00:00Z,2026-01-05T09:00:05Z\n",
        encoding="utf-8",
    )
    mapping = {
        "post_id": "id",
        "site": "platform",
        "account": "channel",
        "body": "text",
        "user": "author.id",
        "council": "author.is_council",
        "posted": "created_at",
        "seen": "received_at",
    }
    [comment] = load_feed(feed, now=NOW, mapping=mapping)
    assert (comment.id, comment.platform, comment.kind) == ("p1", "x", "comment")
    assert comment.thread_id == "p1"
    assert comment.author.id == "u9"
    assert comment.author.is_council is False
    assert comment.text == "Pothole on Bancroft"
