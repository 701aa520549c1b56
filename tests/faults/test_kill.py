"""SIGKILL of `triage run` in the middle of a batch (some outputs written, none
acknowledged), then a restart: every comment is accounted for, none is lost."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import timedelta

import pytest

from records import Comment, Topics, TriageResult, decode
from records.ids import review_item_id
from records.sla import Case
from tests.faults.conftest import Figures, kill, new_prefix, read_all, report, send, spawn
from tests.integration.conftest import make_comment
from tests.polling import until
from worker.triage import lanes_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = 200
TEXTS = ("There is a pothole on Bancroft", "thanks", "you idiots", "flood in the road", "hi")


def timed(i: int) -> Comment:
    """Comment ``i``, posted ``i`` seconds after the first (reply cases order by time)."""
    comment = make_comment(i, TEXTS[i % len(TEXTS)], thread=f"k{i % 30}")
    at = comment.created_at + timedelta(seconds=i)
    return comment.model_copy(update={"created_at": at, "received_at": at})


async def test_sigkill_mid_batch_then_restart(broker, tmp_path, topic_size):
    """Killed while a batch is half written, a restarted worker gives every comment a
    verdict, every lane its review item and each conversation's turn one reply case."""
    prefix = new_prefix()
    topics = Topics(prefix)
    log_path = tmp_path / "worker.log"
    marker = log_path.with_suffix(".marker")
    comments = [timed(i) for i in range(TOTAL)]
    first = spawn(broker, prefix, log_path, fault="hang")
    second = None
    try:
        for c in comments[:100]:
            await send(broker.bootstrap, topics.comments, [c], c.conversation_key.encode())
        await until(marker.exists, "the worker to hang in the middle of a batch", within=180)
        kill(first)
        # A batch was half written: its outputs exist, its input was never acknowledged.
        partial = await topic_size(topics.verdicts)
        for c in comments[100:]:
            await send(broker.bootstrap, topics.comments, [c], c.conversation_key.encode())

        started = time.monotonic()
        second = spawn(broker, prefix, log_path)
        wanted = {c.id for c in comments}
        verdicts = await read_all(
            broker.bootstrap,
            topics.verdicts,
            lambda got: wanted <= {decode(r.value, TriageResult).comment.id for r in got},
            within=240,
        )
        recover_s = time.monotonic() - started
        results = {}
        for record in verdicts:
            result = decode(record.value, TriageResult)
            results[result.comment.id] = result
        items = {
            review_item_id(r.comment, lane)
            for r in results.values()
            if r.verdict is not None
            for lane in lanes_of(r.verdict)
        }
        review = await read_all(
            broker.bootstrap, topics.review, lambda got: {r.key.decode() for r in got} >= items
        )
        asking = {
            r.comment.conversation_key
            for r in results.values()
            if r.verdict is not None and "service_request" in r.verdict.labels
        }

        def cases_by_turn(records) -> dict[tuple[str, int], set[str]]:
            # A conversation's cases in turn: each (conversation, number) must be one case.
            out: dict[tuple[str, int], set[str]] = defaultdict(set)
            for record in records:
                if record.value is not None:
                    case = decode(record.value, Case)
                    out[case.conversation_key, case.number].add(case.id)
            return out

        cases = await read_all(
            broker.bootstrap,
            topics.cases,
            lambda got: {key for key, _ in cases_by_turn(got)} >= asking,
            within=120,
        )
    finally:
        kill(first)
        kill(second)
        await asyncio.sleep(0)

    assert 0 < partial < TOTAL, "the worker was not killed mid-stream"
    assert set(results) == wanted
    assert {r.key.decode() for r in review} >= items
    repeated = sum(1 for ids in cases_by_turn(cases).values() if len(ids) > 1)
    report(
        Figures(
            "SIGKILL mid-batch, then a restart",
            TOTAL,
            len(set(results) & wanted),
            repeated,
            recover_s,
            f"killed after {partial} verdicts; {len(verdicts) - TOTAL} verdicts and "
            f"{len(review) - len(items)} review records written twice before dedupe; "
            f"{len(asking)} conversations asking, one case per turn",
        )
    )
