"""A worker killed with SIGKILL mid-stream and restarted loses no comment."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from records import ReviewItem, Topics, TriageResult, decode
from records.ids import review_item_id
from tests.integration.conftest import make_comment
from worker.triage import lanes_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRIAGE = Path(sys.executable).parent / "triage"
TOTAL = 600
TEXTS = (
    "There is a huge pothole on Bancroft, please fix it",
    "Thanks for the update, very helpful",
    "You lot are useless idiots, sort the bins out",
    "Click here for free crypto www.bit.ly/xyz",
    "My bin was missed again on Monday, when will it be collected?",
)


def start_worker(broker, topic_prefix: str, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "TRIAGE_BROKER": broker.url,
        "TRIAGE_TOPIC_PREFIX": topic_prefix,
        "TRIAGE_APP_ID": f"{topic_prefix}kill".replace(".", "-"),
        "TRIAGE_PARTITIONS": "2",
        "TRIAGE_SESSION_TIMEOUT_S": "10",
        "TRIAGE_WEB_PORT": "0",
        "TRIAGE_BATCH_SIZE": "8",
        "TRIAGE_LOG_FORMAT": "json",
        "TRIAGE_LOG_LEVEL": "warning",
    }
    with log_path.open("ab") as log:
        return subprocess.Popen([str(TRIAGE), "run"], env=env, stdout=log, stderr=log)


def distinct_comment_ids(records) -> set[str]:
    return {decode(r.value, TriageResult).comment.id for r in records}


async def test_sigkill_mid_stream_then_restart_accounts_for_every_comment(
    broker, topic_prefix, tmp_path, produce, read_topic_until, topic_size
):
    """After SIGKILL and a restart, every comment has a verdict and every lane its item."""
    topics = Topics(topic_prefix)
    log_path = tmp_path / "worker.log"
    comments = [make_comment(i, TEXTS[i % len(TEXTS)], thread=f"t{i % 40}") for i in range(TOTAL)]
    first = start_worker(broker, topic_prefix, log_path)
    second = None
    try:
        # The first few show when the worker is up; the rest trickle in for ~14 s, so the
        # kill below lands while comments are still arriving.
        await produce(topics.comments, comments[:20], key=lambda c: c.conversation_key)
        await read_topic_until(topics.verdicts, lambda got: len(got) >= 1, within=120)
        feeder = asyncio.ensure_future(_feed(produce, topics.comments, comments[20:]))
        await read_topic_until(topics.verdicts, lambda got: len(got) >= 100, within=120)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        partial = await topic_size(topics.verdicts)
        assert 100 <= partial < TOTAL, "the worker finished before it was killed"
        await feeder

        second = start_worker(broker, topic_prefix, log_path)
        verdicts = await read_topic_until(
            topics.verdicts, lambda got: len(distinct_comment_ids(got)) == TOTAL, within=240
        )
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)

    results = {}
    for record in verdicts:
        result = decode(record.value, TriageResult)
        results[result.comment.id] = result
        assert record.key == result.comment.conversation_key.encode()
    assert set(results) == {c.id for c in comments}

    wanted = {
        review_item_id(r.comment, lane)
        for r in results.values()
        if r.verdict is not None
        for lane in lanes_of(r.verdict)
    }
    assert wanted, "the classifier flagged nothing; the review check would be empty"
    items = await read_topic_until(
        topics.review, lambda got: {r.key.decode() for r in got} >= wanted, within=60
    )
    for record in items:
        item = decode(record.value, ReviewItem)
        assert item.id == record.key.decode()
    assert {r.key.decode() for r in items} == wanted
    print(
        f"killed after {partial} comments; {len(verdicts)} verdict records for {TOTAL} "
        f"comments, {len(items)} review records for {len(wanted)} items"
    )


async def _feed(produce, topic: str, comments) -> None:
    """Produce in small steps so the kill lands while comments are still arriving."""
    for start in range(0, len(comments), 20):
        await produce(topic, comments[start : start + 20], key=lambda c: c.conversation_key)
        await asyncio.sleep(0.5)
