"""Reply tracking over HTTP and the CLI: officers' decisions, reports, emergency mode."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from click.testing import CliRunner

from records import Comment
from records.ids import review_item_id
from records.moderation import Decision
from records.sla import Case
from tests.polling import until
from worker.cli import cli
from worker.clock import ManualClock
from worker.users import open_store
from worker.web.app import create_web_app

pytestmark = pytest.mark.integration

# A Monday 10:00 London (GMT), in the past, so the CLI's real "now" comes after it.
START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def query(cid: str, when: datetime, thread: str) -> Comment:
    return Comment.model_validate(
        {
            "schema": 1,
            "id": cid,
            "platform": "facebook",
            "channel": "nherts",
            "kind": "comment",
            "thread_id": thread,
            "author": {"id": "resident-9"},
            "text": "pothole by the bus stop",
            "created_at": when,
            "received_at": when,
        }
    )


@pytest.fixture
async def api(running_worker, tmp_path):
    """A worker with a viewer, an officer and a manager, and a client on its web app."""
    clock = ManualClock(START)
    worker = await running_worker(clock=clock, data_dir=tmp_path)
    # The worker's own database: the default SQLite file in its data folder.
    store = open_store(
        worker.settings, hasher=PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
    tokens = {}
    for name in ("viewer", "officer", "manager"):
        store.add(name, name, "a password long enough")
        tokens[name] = {"Authorization": f"Bearer {store.issue_token(name)}"}
    client = TestClient(TestServer(create_web_app(worker.ctx)))
    await client.start_server()
    yield worker, client, tokens, clock
    await client.close()


async def test_decision_closes_case_and_report_counts_it(api, produce):
    """An officer's 'replied' decision closes the case; the report shows it in JSON and CSV."""
    worker, client, tokens, clock = api
    comment = query("q1", START, "thread-a")
    await produce(worker.topics.comments, [comment], key=lambda c: c.conversation_key)
    view = worker.ctx.views.sla
    [case] = await until(lambda: _open_cases(view), "the case to open")
    assert case.due_at == START + timedelta(days=1)

    clock.set(START + timedelta(hours=2))
    decision = Decision(
        id="d-1",
        item_id=review_item_id(comment, "response"),
        lane="response",
        action="replied",
        by="officer",
        role="officer",
        decided_at=START + timedelta(hours=2),
        comment_key=comment.comment_key,
        conversation_key=comment.conversation_key,
    )
    await produce(worker.topics.decisions, [decision], key=decision.item_id)

    async def closed() -> Case | None:
        found = view.get(case.id)
        return found if found is not None and found.status == "closed" else None

    done = await until(closed, "the decision to close the case")
    assert (done.closed_by, done.closed_by_officer) == ("replied", "officer")
    assert done.response_hours == 2.0

    url = "/api/sla/report?period=day&from=2026-11-02&to=2026-11-02"
    response = await client.get(url, headers=tokens["viewer"])
    assert response.status == 200
    body = await response.json()
    overall = body["rows"][0]
    assert (overall["channel"], overall["received"], overall["within_target"]) == ("all", 1, 1)
    assert overall["median_hours"] == 2.0

    response = await client.get(url + "&format=csv", headers=tokens["viewer"])
    assert response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert rows[0]["within_target_pct"] == "100.0"

    bad = await client.get("/api/sla/report?period=month", headers=tokens["viewer"])
    assert bad.status == 400
    assert (await client.get(url)).status == 401


async def _open_cases(view):
    return view.open_cases()


async def test_emergency_switch_by_api_and_cli(api, produce, broker, topic_prefix):
    """A manager switches emergency mode on over the API; the CLI switches it off; both recorded."""
    worker, client, tokens, _clock = api
    refused = await client.post(
        "/api/emergency", json={"active": True, "reason": "flooding"}, headers=tokens["officer"]
    )
    assert refused.status == 403
    response = await client.post(
        "/api/emergency", json={"active": True, "reason": "flooding"}, headers=tokens["manager"]
    )
    assert response.status == 200
    state = await response.json()
    assert (state["active"], state["by"], state["reason"]) == (True, "manager", "flooding")

    view = worker.ctx.views.sla
    await produce(
        worker.topics.comments,
        [query("q2", START + timedelta(minutes=5), "thread-b")],
        key=lambda c: c.conversation_key,
    )
    [case] = await until(lambda: _open_cases(view), "the case to open")
    assert case.emergency
    assert case.suggested_reply == view.policy.replies.emergency
    assert case.due_at is None  # the policy pauses the clock during an emergency

    env = {"TRIAGE_BROKER": broker.url, "TRIAGE_TOPIC_PREFIX": topic_prefix}
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["emergency", "off", "--by", "duty manager", "--reason", "water gone"],
        env=env,
    )
    assert result.exit_code == 0, result.output

    async def switched_off():
        got = await (await client.get("/api/emergency", headers=tokens["viewer"])).json()
        return got if not got["active"] else None

    state = await until(switched_off, "the workers to see emergency mode off")
    assert [c["by"] for c in state["history"]] == ["manager", "duty manager"]

    async def due_again():
        found = view.get(case.id)
        return found if found is not None and found.due_at is not None else None

    resumed = await until(due_again, "the case to get a due time again")
    assert resumed.due_at > START
