"""``triage replay`` against the real broker: every line lands on social.comments, keyed."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

from records import Comment
from worker.cli import cli

pytestmark = pytest.mark.integration


async def test_replay_sends_each_comment_keyed_by_conversation(
    broker, topic_prefix, tmp_path, read_topic
):
    """Templates in a JSON Lines file arrive as Comments keyed platform:thread_id."""
    feed = tmp_path / "feed.jsonl"
    rows = [
        {
            "schema": 1,
            "id": f"c{i}",
            "platform": "x",
            "channel": "nherts",
            "kind": "mention",
            "thread_id": f"t{i % 2}",
            "author": {"id": f"a{i}"},
            "text": "Bins?",
            "offset_minutes": -i,
        }
        for i in range(5)
    ]
    feed.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    env = {
        "TRIAGE_BROKER": broker.url,
        "TRIAGE_TOPIC_PREFIX": topic_prefix,
        "TRIAGE_LOG_LEVEL": "warning",
    }

    result = await _run(["replay", str(feed), "--rate", "100"], env)
    assert result.exit_code == 0, result.output
    assert "5 comments sent" in result.output

    records = await read_topic(f"{topic_prefix}social.comments", 5)
    got = {r.key.decode(): set() for r in records}
    for record in records:
        got[record.key.decode()].add(Comment.model_validate_json(record.value).id)
    assert got == {"x:t0": {"c0", "c2", "c4"}, "x:t1": {"c1", "c3"}}


async def test_replay_refuses_a_bad_feed_before_sending(broker, topic_prefix, tmp_path):
    """A feed with an invalid line makes the command exit 1 and name the line."""
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"schema": 1, "id": "c1"}\n', encoding="utf-8")
    env = {"TRIAGE_BROKER": broker.url, "TRIAGE_TOPIC_PREFIX": topic_prefix}
    result = await _run(["replay", str(feed)], env)
    assert result.exit_code == 1
    assert "line 1" in result.output


async def _run(args, env):
    # The command runs its own event loop, so it runs in a thread beside this one.
    return await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)
