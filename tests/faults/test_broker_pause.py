"""The broker frozen (SIGSTOP) for 30 seconds under a running worker, then SIGCONT: the
worker rides it out, and every comment sent before, during and after gets its verdict."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from records import TriageResult, decode
from tests.faults.conftest import (
    Figures,
    bootstrap_of,
    new_prefix,
    read_all,
    ready_status,
    report,
    send,
    start_worker,
    stop_worker,
)
from tests.integration.conftest import make_comment
from worker.broker import EmbeddedBroker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAUSE_S = 30.0


@pytest.fixture
def own_broker(tmp_path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, so that freezing it stops nobody else."""
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as running:
        yield running


async def test_broker_frozen_for_30_seconds(own_broker):
    """Comments sent before the freeze, and while it lasts, all get verdicts after it;
    the worker never sets its fatal flag and is ready again."""
    worker = await start_worker(own_broker, new_prefix())
    bootstrap = bootstrap_of(worker)
    comments = [
        make_comment(i, "pothole" if i % 2 else "hello", thread=f"p{i % 9}") for i in range(90)
    ]
    wanted = {c.id for c in comments}

    def verdicts_for(ids: set[str]):
        return lambda got: ids <= {decode(r.value, TriageResult).comment.id for r in got}

    try:
        for c in comments[:30]:
            await send(bootstrap, worker.topics.comments, [c], c.conversation_key.encode())
        await read_all(
            bootstrap, worker.topics.verdicts, verdicts_for({c.id for c in comments[:30]})
        )

        sent_at: dict[str, float] = {}

        async def feed() -> None:
            for c in comments[30:]:
                await send(bootstrap, worker.topics.comments, [c], c.conversation_key.encode())
                sent_at[c.id] = time.monotonic()
                await asyncio.sleep(0.2)

        feeder = asyncio.ensure_future(feed())
        await asyncio.sleep(1.0)  # some of the next comments are in before the freeze
        paused = time.monotonic()
        own_broker.pause()
        try:
            await asyncio.sleep(PAUSE_S)
        finally:
            own_broker.resume()
        resumed = time.monotonic()

        def a_new_verdict(got) -> bool:
            # Recovered: a verdict for a comment that only reached the broker after the freeze.
            late = {i for i, at in sent_at.items() if at > paused}
            return bool(late & {decode(r.value, TriageResult).comment.id for r in got})

        await read_all(bootstrap, worker.topics.verdicts, a_new_verdict, within=180)
        recover_s = time.monotonic() - resumed
        await asyncio.wait_for(feeder, timeout=120)
        got = await read_all(bootstrap, worker.topics.verdicts, verdicts_for(wanted), within=180)
        assert worker.ctx.fatal.error is None
        assert await ready_status(worker) == 200
    finally:
        own_broker.resume()
        await stop_worker(worker)

    ids = [decode(r.value, TriageResult).comment.id for r in got]
    report(
        Figures(
            f"broker stopped {PAUSE_S:.0f} s (SIGSTOP, SIGCONT)",
            len(comments),
            len(set(ids) & wanted),
            0,
            recover_s,
            f"{len(ids) - len(set(ids))} verdicts written twice before dedupe; recovery "
            "counted from SIGCONT to the first verdict of a comment held up by the freeze",
        )
    )
