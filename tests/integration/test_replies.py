"""Replying from the tool end to end on the embedded broker: the API writes a request, the
actions connector posts it on a fake Graph, the page shows the outcome, the case closes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from connectors import ConnectorSettings
from connectors.replies import ReplyRunner
from records import Comment
from tests.connectors.fakes import serve_fake
from tests.connectors.reply_fakes import GRAPH_VERSION, FakeGraphReplies
from tests.polling import until
from worker.clock import ManualClock
from worker.users import open_store
from worker.web.app import create_web_app

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # a Monday, in office hours
PAGE_TOKEN = "page-token"
PAGE_ID = "101010"


def query(cid: str) -> Comment:
    return Comment.model_validate(
        {
            "schema": 1,
            "id": cid,
            "platform": "facebook",
            "channel": "nherts",
            "kind": "comment",
            "thread_id": f"t-{cid}",
            "author": {"id": "a1", "name": "Pat"},
            "text": "there is a pothole on the high street",
            "created_at": START,
            "received_at": START,
            "connector": "meta",
        }
    )


@pytest.fixture
async def setup(running_worker, produce, tmp_path) -> AsyncIterator[Any]:
    """A worker with replying on, users officer/manager/viewer, a client and a Graph fake."""
    clock = ManualClock(START)
    worker = await running_worker(clock=clock, data_dir=tmp_path, replies_enabled=True)
    store = open_store(
        worker.settings, hasher=PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
    tokens = {}
    for name in ("viewer", "officer", "manager"):
        store.add(name, name, "a password long enough")
        tokens[name] = {"Authorization": f"Bearer {store.issue_token(name)}"}
    client = TestClient(TestServer(create_web_app(worker.ctx)))
    await client.start_server()
    graph = FakeGraphReplies(PAGE_TOKEN, PAGE_ID, "17841400000000001")
    fake, graph_url = await serve_fake(graph.app())
    await produce(worker.topics.comments, [query("42_1")], key=lambda c: c.conversation_key)

    async def item_id() -> str | None:
        response = await client.get("/api/review?lane=response", headers=tokens["viewer"])
        items = (await response.json())["items"]
        return items[0]["id"] if items else None

    found = await until(item_id, "the query in the response lane")
    yield worker, client, tokens, graph, graph_url + GRAPH_VERSION, found
    await client.close()
    await fake.cleanup()


@contextlib.asynccontextmanager
async def connector(worker: Any, graph_base: str, tmp_path: Any) -> AsyncIterator[ReplyRunner]:
    settings = ConnectorSettings(
        _env_file=None,  # type: ignore[call-arg]
        broker=worker.settings.broker,
        topic_prefix=worker.settings.topic_prefix,
        partitions=2,
        connector_state_dir=tmp_path / "state",
        replies_enabled=True,
        meta_graph_base=graph_base,
        meta_page_access_token=PAGE_TOKEN,
        meta_page_id=PAGE_ID,
        actions_session_timeout_s=6,
    )
    runner = ReplyRunner(settings)
    await runner.setup()
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        await runner.stop()
        await asyncio.wait_for(task, 30)
        await runner.cleanup()


async def test_a_reply_sent_from_the_api_is_posted_once_and_closes_the_case(setup, tmp_path):
    """202 with the reply's id, one per retry key; the connector posts it on Graph once; the
    outcome reaches the API and the reply clock closes the case as the council's reply."""
    worker, client, tokens, graph, graph_base, item = setup
    path = f"/api/review/{item}/reply"
    viewer = await client.post(path, json={"template": "acknowledgement"}, headers=tokens["viewer"])
    assert viewer.status == 403
    bad = await client.post(path, json={"txt": "typo"}, headers=tokens["officer"])
    assert bad.status == 400
    assert "txt" in (await bad.json())["error"]
    body = {"template": "acknowledgement", "id": "click-1"}
    first = await client.post(path, json=body, headers=tokens["officer"])
    assert first.status == 202
    sent = await first.json()
    retried = await (await client.post(path, json=body, headers=tokens["officer"])).json()
    assert (retried["id"], retried["repeat"], sent["repeat"]) == (sent["id"], True, False)
    assert sent["state"] == "queued"

    async with connector(worker, graph_base, tmp_path):

        async def state() -> str | None:
            response = await client.get(f"/api/replies/{sent['id']}", headers=tokens["viewer"])
            found = (await response.json())["state"]
            return found if found in ("sent", "failed") else None

        assert await until(state, "the reply's outcome") == "sent"
    [posted] = graph.requests
    assert posted[:2] == ("POST", f"{GRAPH_VERSION}/42_1/comments")
    assert posted[2]["message"].startswith("Thank you for your message.")

    def closed() -> Any:
        sla = worker.ctx.views.sla
        cases = [c for c in sla.cases() if c.conversation_key == "facebook:t-42_1"]
        return cases and cases[0].status == "closed" and cases[0]

    case = await until(closed, "the case closed by the council's reply")
    assert case.closed_by == "council_reply"
    detail = await (await client.get(f"/api/replies/{sent['id']}", headers=tokens["viewer"])).json()
    assert detail["outcome"]["requested_by"] == "officer"
    assert detail["outcome"]["posted_id"].startswith("42_1_")


async def test_a_written_warning_waits_for_a_manager_and_records_the_approval(setup, tmp_path):
    """An officer's warning is not sent until a manager approves it; then once, privately."""
    worker, client, tokens, graph, graph_base, item = setup
    response = await client.post(
        f"/api/review/{item}/reply", json={"template": "warning"}, headers=tokens["officer"]
    )
    assert response.status == 202
    reply = await response.json()
    assert reply["state"] == "awaiting_approval"
    async with connector(worker, graph_base, tmp_path):
        await asyncio.sleep(2.0)  # the connector has read the request by now, and waits
        assert graph.requests == []
        approve = f"/api/replies/{reply['id']}/approve"
        assert (await client.post(approve, headers=tokens["officer"])).status == 403
        approved = await client.post(approve, headers=tokens["manager"])
        assert approved.status == 200
        assert (await approved.json())["approved_by"] == "manager"

        async def sent() -> bool:
            found = await client.get(f"/api/replies/{reply['id']}", headers=tokens["viewer"])
            return (await found.json())["state"] == "sent"

        await until(sent, "the approved warning sent")
    [message] = graph.requests
    assert message[1] == f"{GRAPH_VERSION}/{PAGE_ID}/messages"
    assert message[2]["recipient"] == {"comment_id": "42_1"}
    detail = await (
        await client.get(f"/api/replies/{reply['id']}", headers=tokens["viewer"])
    ).json()
    assert detail["outcome"]["approved_by"] == "manager"
    assert detail["private"] is True
