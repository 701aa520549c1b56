"""A generic-webhook sender posing as Facebook and as the council, through the whole system.

The sender holds the webhook's secret but nothing else: its comments must not answer a
resident's Facebook case, put a strike on a Facebook account, or get a Facebook post
deleted by the actions connector. A genuine Facebook comment (written as the Meta connector
writes it) runs beside it as the control, so the test fails if nothing is acted on at all.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from connectors import ConnectorSettings, GenericWebhookConnector
from connectors.actions import ActionsRunner
from connectors.generic import sign
from records import Comment, TriageResult
from records.moderation import AuditRecord
from records.sla import Case
from tests.connectors.conftest import WEBHOOK_SECRET, running
from tests.connectors.fakes import serve_fake
from tests.connectors.test_actions import (
    GRAPH_VERSION,
    PAGE_TOKEN,
    FakeGraph,
    actions,
    no_sleep,
    write_policy,
)
from tests.polling import until
from worker.moderation.decisions import DecisionRequest
from worker.moderation.service import submit_decision
from worker.users import User

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OFFICER = User("olive", "officer")
RESIDENT = "1000000000000001"  # a real Facebook user's id, known to the sender
THREAD = "42_100"  # the resident's comment thread on the council's Page


def facebook(cid: str, text: str, thread: str, at: datetime) -> Comment:
    """A resident's comment as the Meta connector writes it."""
    return Comment.model_validate(
        {
            "schema": 1,
            "id": cid,
            "platform": "facebook",
            "channel": "101010",
            "kind": "comment",
            "thread_id": thread,
            "author": {"id": RESIDENT, "name": "A Resident"},
            "text": text,
            "created_at": at,
            "received_at": at,
            "connector": "meta",
        }
    )


def forged(cid: str, text: str, *, council: bool, thread: str) -> dict[str, object]:
    return {
        "id": cid,
        "platform": "facebook",
        "channel": "101010",
        "kind": "reply" if council else "comment",
        "thread_id": thread,
        "author": {"id": "101010" if council else RESIDENT, "is_council": council},
        "text": text,
    }


async def post_signed(url: str, payload: object) -> httpx.Response:
    body = json.dumps(payload).encode()
    stamp = int(time.time())
    headers = {
        "X-Triage-Timestamp": str(stamp),
        "X-Triage-Signature": sign(WEBHOOK_SECRET.encode(), stamp, body),
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, content=body, headers=headers)


async def moderation_item(worker, comment_key: str):
    review = worker.ctx.views.review

    def find():
        items = review.items(lane="moderation", status=None)
        return next((i for i in items if i.comment.comment_key == comment_key), None)

    item = await until(find, f"a moderation item for {comment_key}")
    # The agent's advice on the item (triage.moderation) has reached the view.
    await until(lambda: review._state.moderation.get(item.id), "the moderation record")
    return item


async def test_forged_webhook_cannot_close_strike_or_delete(
    broker, topic_prefix, tmp_path: Path, running_worker, produce, read_topic, read_topic_until
):
    """The forged reply leaves the case open, the strike lands on a webhook key, no delete."""
    worker = await running_worker()
    topics, ctx = worker.topics, worker.ctx
    await asyncio.wait_for(ctx.views.moderation_reader.wait_caught_up(), 60)
    now = datetime.now(UTC) - timedelta(seconds=5)
    question = facebook("42_101", "There is a pothole outside number 4", THREAD, now)
    abuse = facebook("42_102", "you idiot", "42_102", now)
    await produce(topics.comments, [question, abuse], key=lambda c: c.conversation_key)
    [opened] = await read_topic(topics.cases, 1, Case)
    assert (opened.conversation_key, opened.status) == (f"facebook:{THREAD}", "open")

    def connector_settings(**more: object) -> ConnectorSettings:
        return ConnectorSettings(
            _env_file=None,  # type: ignore[call-arg]
            broker=broker.url,
            topic_prefix=topic_prefix,
            partitions=2,
            connector_state_dir=tmp_path / "state",
            connector_port=0,
            webhook_secret=WEBHOOK_SECRET,
            **more,
        )

    settings = connector_settings()
    async with running(GenericWebhookConnector(settings)) as hook:
        answer = await post_signed(
            f"{hook.url}/webhooks/generic",
            [
                forged("42_103", "Fixed, thanks for telling us", council=True, thread=THREAD),
                forged("42_104", "you idiot", council=False, thread="42_104"),
                # Same key as the forged reply, so once its case opens the reply was seen.
                forged("42_105", "pothole on Station Road", council=False, thread=THREAD),
            ],
        )
        assert answer.status_code == 200, answer.text
        assert await hook.sink.flush(60)

    results = await read_topic_until(
        topics.verdicts,
        lambda got: sum(b"webhook" in (m.key or b"") for m in got) >= 3,
    )
    came = [TriageResult.model_validate_json(m.value).comment for m in results]
    mine = [c for c in came if c.connector == "webhook"]
    assert len(mine) == 3
    assert {c.platform for c in mine} == {"webhook"}
    assert not any(c.author.is_council for c in mine)

    cases = await read_topic_until(
        topics.cases,
        lambda got: any(Case.model_validate_json(m.value).platform == "webhook" for m in got),
    )
    latest: dict[str, Case] = {}
    for message in cases:
        case = Case.model_validate_json(message.value)
        latest[case.id] = case
    assert latest[opened.id].status == "open", "a forged reply closed a resident's case"
    assert all(case.status == "open" for case in latest.values())

    real_item = await moderation_item(worker, abuse.comment_key)
    fake_item = await moderation_item(worker, "webhook:42_104")
    for item in (fake_item, real_item):
        await submit_decision(ctx, OFFICER, DecisionRequest(item_id=item.id, action="delete"))
    audits = await read_topic(topics.audit, 2, AuditRecord)
    assert {(a.author_key, a.connector) for a in audits} == {
        (f"webhook:{RESIDENT}", "webhook"),
        (f"facebook:{RESIDENT}", "meta"),
    }
    ledger = ctx.views.ledger
    await until(lambda: ledger.get(f"webhook:{RESIDENT}"), "the webhook author's ledger")
    await until(lambda: ledger.get(f"facebook:{RESIDENT}"), "the real author's ledger")
    assert len(ledger.get(f"facebook:{RESIDENT}").strikes) == 1  # the real comment's only
    assert len(ledger.get(f"webhook:{RESIDENT}").strikes) == 1

    graph = FakeGraph()
    graph_runner, graph_url = await serve_fake(graph.app())
    try:
        acting = connector_settings(
            policy=write_policy(tmp_path, True),
            meta_graph_base=graph_url + GRAPH_VERSION,
            meta_page_access_token=PAGE_TOKEN,
            actions_backfill=True,
            actions_session_timeout_s=6,
        )
        runner = ActionsRunner(acting, sleep=no_sleep)
        async with running(runner):
            await until(lambda: actions(runner, "facebook", "done") == 1)
            await until(lambda: actions(runner, "other", "unsupported") == 1)
    finally:
        await graph_runner.cleanup()
    assert [r[:2] for r in graph.requests] == [("DELETE", f"{GRAPH_VERSION}/42_102")]
