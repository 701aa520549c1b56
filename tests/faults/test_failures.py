"""A part that fails for any reason but a bad record stops the worker: /ready answers 503,
`triage run` exits 1 for its supervisor, and nothing it had not finished is lost."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from records import Comment, ReviewItem, Topics, TriageResult, decode
from records.sla import Case
from tests.faults.conftest import (
    Figures,
    bootstrap_of,
    new_prefix,
    read_all,
    ready_status,
    report,
    send,
    spawn,
    start_worker,
    stop_worker,
)
from tests.integration.conftest import KeywordClassifier, make_comment

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MARK = "Zq7secret"


class BuggyClassifier(KeywordClassifier):
    """Fails, as a bug would, on any batch with 'boom' in it."""

    def classify(self, batch: Any) -> Any:
        if any("boom" in c.text for c in batch):
            raise RuntimeError(f"a bug that quotes {MARK}")
        return super().classify(batch)


async def test_a_failing_agent_stops_the_worker_and_loses_nothing(broker):
    """A bug in the triage agent sets the fatal flag (/ready 503); its batch stays
    unacknowledged, so a restarted worker gives every comment a verdict."""
    prefix = new_prefix()
    worker = await start_worker(broker, prefix, classifier=BuggyClassifier())
    comments = [make_comment(i, t, thread="bug") for i, t in enumerate(["ok", "boom", "pothole"])]
    try:
        await send(bootstrap_of(worker), worker.topics.comments, comments, b"facebook:bug")
        fatal = worker.ctx.fatal
        await asyncio.wait_for(fatal.event.wait(), timeout=60)
        assert fatal.part == "triage agent"
        assert fatal.reason == "triage agent failed: RuntimeError"
        assert MARK not in fatal.reason
        assert await ready_status(worker) == 503
    finally:
        await stop_worker(worker)

    # What a supervisor does: start it again (the bug fixed: here, a working classifier).
    started = time.monotonic()
    again = await start_worker(broker, prefix)
    try:
        wanted = {c.id for c in comments}
        got = await read_all(
            bootstrap_of(again),
            again.topics.verdicts,
            lambda rs: wanted <= {decode(r.value, TriageResult).comment.id for r in rs},
        )
        recover_s = time.monotonic() - started
        ids = [decode(r.value, TriageResult).comment.id for r in got]
        assert again.ctx.fatal.error is None
    finally:
        await stop_worker(again)
    report(
        Figures(
            "bug in the triage agent, then a restart",
            len(comments),
            len(set(ids) & wanted),
            0,
            recover_s,
            f"{len(ids) - len(set(ids))} verdicts written twice before dedupe",
        )
    )


async def test_a_failing_view_reader_stops_the_worker(broker):
    """A bug while the moderation view reads a valid record stops the worker (503)."""
    worker = await start_worker(broker, new_prefix())
    try:
        state = worker.ctx.views.moderation_state

        def broken(_item: Any) -> None:
            raise KeyError(MARK)

        state.add_item = broken
        comment: Comment = make_comment(1, "you idiot")
        item = ReviewItem(
            id="rv-bug", lane="moderation", comment=comment, created_at=comment.created_at
        )
        await send(bootstrap_of(worker), worker.topics.review, [item], b"rv-bug")
        fatal = worker.ctx.fatal
        await asyncio.wait_for(fatal.event.wait(), timeout=60)
        assert fatal.reason == "moderation view reader failed: KeyError"
        assert await ready_status(worker) == 503
    finally:
        await stop_worker(worker)


async def test_a_failing_sla_reader_stops_the_worker(broker):
    """A bug while the SLA readers apply a valid case stops the worker; a broker error
    would only restart them."""
    worker = await start_worker(broker, new_prefix())
    try:
        view = worker.ctx.views.sla

        def broken(_case: Any) -> None:
            raise ValueError(MARK)

        view.apply_case = broken
        comment = make_comment(2, "pothole")
        case = Case(
            id="case-bug",
            conversation_key=comment.conversation_key,
            number=1,
            platform="facebook",
            channel="nherts",
            status="open",
            opened_by=comment.comment_key,
            author_key=comment.author_key,
            item_id="rv-x",
            received_at=comment.created_at,
            due_at=comment.created_at,
            target_hours=8,
        )
        await send(bootstrap_of(worker), worker.topics.cases, [case], b"case-bug")
        fatal = worker.ctx.fatal
        await asyncio.wait_for(fatal.event.wait(), timeout=60)
        assert fatal.reason == "sla view readers failed: ValueError"
        assert await ready_status(worker) == 503
    finally:
        await stop_worker(worker)


async def test_triage_run_exits_non_zero_when_a_part_fails(broker, tmp_path):
    """`triage run` with a bug in classifying exits 1, saying which part failed, and its
    log names the code location but never the error's message."""
    prefix = new_prefix()
    log_path = tmp_path / "worker.log"
    proc = spawn(broker, prefix, log_path, fault="bug")
    try:
        topics = Topics(prefix)
        await send(broker.bootstrap, topics.comments, [make_comment(1, "hello")], b"facebook:t1")
        code = await asyncio.to_thread(proc.wait, 120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    output = log_path.read_text(encoding="utf-8")
    assert code == 1, output
    assert "triage: stopped: triage agent failed: RuntimeError" in output
    stopping = [line for line in output.splitlines() if '"worker stopping"' in line]
    assert stopping
    assert "inject.py" in stopping[0]
    assert MARK not in output
