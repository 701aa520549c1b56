"""The moderation JSON API over a running worker: tokens, roles, decisions, exports."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from records import Comment
from records.ids import decision_id
from worker.clock import ManualClock
from worker.users import open_store
from worker.web.app import create_web_app

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
WAIT_S = 60.0


@pytest.fixture(autouse=True)
def moderation_only(monkeypatch):
    """Run the triage and moderation parts only: the SLA part has its own tests."""
    from worker.moderation.agent import register

    monkeypatch.setattr("worker.app.PARTS", (register,))


def abusive(cid: str, author: str = "a1") -> Comment:
    return Comment.model_validate(
        {
            "schema": 1,
            "id": cid,
            "platform": "facebook",
            "channel": "nherts",
            "kind": "comment",
            "thread_id": f"t-{cid}",
            "author": {"id": author, "handle": "=HYPERLINK(1)"},
            "text": "you idiot",
            "created_at": START,
            "received_at": START,
        }
    )


@pytest.fixture
async def api(running_worker, tmp_path):
    """A worker with users viewer/officer/manager, and a test client on its web app."""
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
    await asyncio.wait_for(worker.ctx.views.moderation_reader.wait_caught_up(), WAIT_S)
    client = TestClient(TestServer(create_web_app(worker.ctx)))
    await client.start_server()
    yield worker, client, tokens, clock
    await client.close()


async def test_requests_without_a_user_are_refused(api):
    """No token: 401 on the API, a sign-in redirect for pages; /health stays open."""
    _, client, tokens, _ = api
    response = await client.get("/api/review")
    assert response.status == 401
    assert "error" in await response.json()
    bad = await client.get("/api/review", headers={"Authorization": "Bearer tri_wrong"})
    assert bad.status == 401
    page = await client.get("/", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"].startswith("/login")
    assert (await client.get("/health")).status != 401
    ok = await client.get("/api/review", headers=tokens["viewer"])
    assert ok.status == 200


async def test_decisions_roles_ledger_and_exports(api, produce):
    """Officers decide through the API; 404/403/409 refusals; ledger, blocks and CSV follow."""
    worker, client, tokens, clock = api
    comment = abusive("c1")
    await produce(worker.topics.comments, [comment], key=lambda c: c.conversation_key)

    async def queue():
        response = await client.get("/api/review?lane=moderation", headers=tokens["viewer"])
        assert response.status == 200
        return (await response.json())["items"]

    items: list = []
    deadline = time.monotonic() + WAIT_S
    while not items and time.monotonic() < deadline:
        items = await queue()
        await asyncio.sleep(0.2)
    [item] = items
    assert item["recommended"] == ["hide", "warn"]
    detail = await (await client.get(f"/api/review/{item['id']}", headers=tokens["viewer"])).json()
    assert [m["kind"] for m in detail["messages"]] == ["warning"]

    async def decide(who, **body):
        return await client.post("/api/decisions", json=body, headers=tokens[who])

    assert (await decide("officer", item_id="nope", action="hide")).status == 404
    assert (await decide("viewer", item_id=item["id"], action="hide")).status == 403
    refused = await decide("officer", item_id=item["id"], action="block")
    assert refused.status == 403
    assert "manager" in (await refused.json())["error"]
    assert (await decide("officer", item_id=item["id"], action="report_police")).status == 422
    bad = await client.post("/api/decisions", data=b"{", headers=tokens["officer"])
    assert bad.status == 400

    first = await decide("officer", item_id=item["id"], action="hide", note="rude")
    assert first.status == 201
    again = await decide("officer", item_id=item["id"], action="hide", note="rude")
    assert again.status == 200
    assert (await again.json())["repeat"] is True
    closed = await decide("officer", item_id=item["id"], action="delete")
    assert closed.status == 409
    assert (await queue()) == []

    async def author():
        response = await client.get("/api/authors/facebook:a1", headers=tokens["viewer"])
        return await response.json() if response.status == 200 else None

    record = await until_async(author, lambda r: r and len(r["strikes"]) == 1)
    assert record["warnings"] == []
    assert (await client.get("/api/authors/facebook:zz", headers=tokens["viewer"])).status == 404

    blocked = await decide("manager", item_id=item["id"], action="block")
    assert blocked.status == 201
    record = await until_async(author, lambda r: r and r["blocked"])
    assert record["appealable_from"] == "2027-03-02"

    async def blocks(flag):
        response = await client.get(f"/api/blocks?appealable={flag}", headers=tokens["viewer"])
        return [b["author_key"] for b in (await response.json())["blocks"]]

    assert await blocks("true") == []
    assert await blocks("false") == ["facebook:a1"]
    clock.set(START + timedelta(days=365))
    assert await blocks("true") == ["facebook:a1"]

    export = await client.get(
        "/api/audit.csv?from=2026-03-01&to=2026-03-31", headers=tokens["officer"]
    )
    assert export.status == 200
    assert export.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await export.text())))
    assert [r["action"] for r in rows] == ["hide", "block"]
    assert rows[0]["post"] == "you idiot"
    assert rows[0]["account_handle"] == "'=HYPERLINK(1)"  # no formula in a spreadsheet
    assert rows[1]["appealable_from"] == "2027-03-02"
    none = await client.get("/api/audit.csv?author=facebook:zz", headers=tokens["officer"])
    assert len((await none.text()).splitlines()) == 1
    assert (await client.get("/api/audit.csv", headers=tokens["viewer"])).status == 403


async def test_an_officer_cannot_pre_claim_a_managers_decision(api, produce):
    """An officer posting first under the id of a manager's future unblock does not stop it."""
    worker, client, tokens, clock = api
    await produce(worker.topics.comments, [abusive("c2", "a2")], key=lambda c: c.conversation_key)

    async def queue():
        response = await client.get("/api/review?lane=moderation", headers=tokens["viewer"])
        return (await response.json())["items"]

    [item] = await until_async(queue, lambda items: len(items) == 1)

    async def decide(who, **body):
        response = await client.post(
            "/api/decisions", json={"item_id": item["id"], **body}, headers=tokens[who]
        )
        return response.status, await response.json()

    async def author():
        response = await client.get("/api/authors/facebook:a2", headers=tokens["viewer"])
        return await response.json() if response.status == 200 else None

    assert (await decide("manager", action="block"))[0] == 201
    await until_async(author, lambda r: r and r["blocked"])

    # The id the manager's unblock gets, which anyone can work out, sent first by an officer.
    target = decision_id(item["id"], "unblock", "manager")
    status, claimed = await decide("officer", action="warn", id=target)
    assert status == 201
    assert claimed["decision"]["id"] != target
    # A retry of the officer's own request is still one decision; other content is 409.
    assert (await decide("officer", action="warn", id=target))[0] == 200
    status, conflict = await decide("officer", action="warn", id=target, note="changed")
    assert status == 409
    assert "different details" in conflict["error"]

    clock.set(START + timedelta(days=366))
    status, unblocked = await decide("manager", action="unblock", approved_by="MD by email")
    assert status == 201
    assert unblocked["repeat"] is False
    assert unblocked["decision"]["id"] == target
    record = await until_async(author, lambda r: r and not r["blocked"])
    assert record["blocks"][-1]["lifted_by"] == "manager"
    assert [w["by"] for w in record["warnings"]] == ["officer"]
    again = await decide("manager", action="unblock", approved_by="MD by email")
    assert again[0] == 200
    assert again[1]["repeat"] is True


async def until_async(fetch, ok):
    """Poll an async ``fetch()`` until ``ok(value)``."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = await fetch()
        if ok(value):
            return value
        await asyncio.sleep(0.2)
    raise AssertionError("timed out")
