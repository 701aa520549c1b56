"""`triage web` on its own, on the embedded broker with SQLite and a real PostgreSQL: two
app processes on one database show what the projector folded, share a session, send
decisions and emergency switches to Kafka, and see their effect once it is folded back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from records.handling import HandlingRecord
from records.moderation import Decision
from records.reply import ReplyRequest
from records.sla import EmergencyChange
from tests.e2e.site import FAST_HASHER, PASSWORD, earlier_block, sample_cases, sample_items
from tests.integration.test_projector import projecting, settings_for
from worker.db import Database
from worker.users import open_store
from worker.web.standalone import serve

pytestmark = pytest.mark.integration

TRIAGE = Path(sys.executable).parent / "triage"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET = "web-test-secret-" + "y" * 32


@contextlib.asynccontextmanager
async def web_app(settings):
    """One `triage web` app in this loop (its own engine and producer); yields its URL."""
    stop = asyncio.Event()
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, stop, listening=listening.set_result))
    try:
        done, _ = await asyncio.wait({task, listening}, timeout=60, return_when="FIRST_COMPLETED")
        if task in done:
            task.result()
        yield listening.result()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def sign_in(session: aiohttp.ClientSession, base: str) -> None:
    page = await (await session.get(f"{base}/login")).text()
    token = TOKEN.search(page)
    assert token is not None
    response = await session.post(
        f"{base}/login",
        data={"username": "maya", "password": PASSWORD, "csrf_token": token.group(1), "next": "/"},
        allow_redirects=False,
    )
    assert response.status == 303


@pytest.fixture
async def folded(broker, topic_prefix, database_url, tmp_path, produce):
    """The sample records on the topics, a projector folding them into the database, and
    maya (a manager) with an API token."""
    settings = await settings_for(broker, topic_prefix, database_url)
    settings = settings.model_copy(
        update={"data_dir": tmp_path, "session_secret": SecretStr(SECRET)}
    )
    names = settings.topics
    await produce(names.review, sample_items(), key=lambda item: item.id)
    await produce(names.cases, sample_cases(), key=lambda case: case.conversation_key)
    await produce(names.audit, [earlier_block()], key=earlier_block().author_key)
    store = open_store(settings, FAST_HASHER)
    store.add("maya", "manager", PASSWORD)
    token = store.issue_token("maya")
    store.database.close()
    database = Database(database_url)
    try:
        async with projecting(settings, database):
            yield settings, database, token
    finally:
        database.close()


async def test_two_web_apps_read_the_database_and_write_to_kafka(folded, read_topic):
    """Both apps show the folded queue; a session made on one is good on the other; a
    decision and an emergency switch sent through one reach their topics and, once the
    projector has folded them, show on the other."""
    settings, _, token = folded
    bearer = {"Authorization": f"Bearer {token}"}
    async with (
        web_app(settings) as first,
        web_app(settings) as second,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
        aiohttp.ClientSession(headers=bearer) as api,
    ):

        async def queue_of(base: str) -> list[str]:
            got = await (await api.get(f"{base}/api/review")).json()
            return sorted(item["id"] for item in got["items"])

        expected = sorted(item.id for item in sample_items())
        for base in (first, second):
            await until_async(lambda b=base: queue_of(b), expected, "the folded queue")
        await sign_in(browser, first)
        page = await browser.get(f"{second}/")
        assert page.status == 200
        assert "Water pouring into houses" in await page.text()

        sent = await api.post(
            f"{second}/api/decisions", json={"item_id": "i-rude", "action": "hide", "id": "k1"}
        )
        assert sent.status == 201, await sent.text()
        (decision,) = await read_topic(settings.topics.decisions, 1, Decision)
        assert (decision.item_id, decision.action, decision.by) == ("i-rude", "hide", "maya")
        await until_async(
            lambda: queue_of(first), [i for i in expected if i != "i-rude"], "the decision"
        )

        switched = await api.post(
            f"{first}/api/emergency", json={"active": True, "reason": "flooding"}
        )
        assert switched.status == 200, await switched.text()
        (change,) = await read_topic(settings.topics.emergency, 1, EmergencyChange)
        assert (change.active, change.by) == (True, "maya")

        async def active() -> bool:
            return bool((await (await api.get(f"{second}/api/emergency")).json())["active"])

        await until_async(active, True, "the switch folded")


async def test_assignments_and_presence_are_shared_by_two_web_apps(folded, read_topic):
    """An assignment and a note made through one `triage web` go to triage.handling and,
    folded by the projector, show on the other app and after both restart; an officer
    with an item open on one app is "being handled by" on the other's queue."""
    settings, _, token = folded
    bearer = {"Authorization": f"Bearer {token}"}
    async with (
        web_app(settings) as first,
        web_app(settings) as second,
        aiohttp.ClientSession(headers=bearer) as api,
    ):

        async def assignee(base: str) -> str | None:
            got = await (await api.get(f"{base}/api/review/i-rude/handling")).json()
            if "error" in got:
                return got["error"]  # not folded yet
            return got["assignment"]["assignee"] if got["assignment"] else None

        await until_async(lambda: assignee(second), None, "the item on the second app")
        sent = await api.post(
            f"{first}/api/review/i-rude/assignment", json={"assignee": "maya", "id": "a1"}
        )
        assert sent.status == 201, await sent.text()
        note = await api.post(f"{first}/api/review/i-rude/notes", json={"text": "Rang Pat"})
        assert note.status == 201, await note.text()
        records = await read_topic(settings.topics.handling, 2, HandlingRecord)
        assert [(r.kind, r.by) for r in records] == [("assign", "maya"), ("note", "maya")]
        await until_async(lambda: assignee(second), "maya", "the assignment folded")

        async def mine(base: str) -> list[str]:
            got = await (await api.get(f"{base}/api/review?assignee=mine")).json()
            return [item["id"] for item in got["items"]]

        assert await mine(second) == ["i-rude"]
        beat = await api.post(f"{first}/api/review/i-fake/presence")
        assert beat.status == 204
        present = await (await api.get(f"{second}/api/review/i-fake/handling")).json()
        assert present["present"] == ["maya"]
    # Both apps stopped and started again: the assignment and the note are still there.
    async with web_app(settings) as again, aiohttp.ClientSession(headers=bearer) as api:
        got = await (await api.get(f"{again}/api/review/i-rude/handling")).json()
        assert got["assignment"]["assignee"] == "maya"
        assert [n["text"] for n in got["notes"]] == ["Rang Pat"]


async def test_a_web_app_alone_sends_replies_and_follows_them(folded, read_topic):
    """With replying on, `triage web` writes an officer's reply to triage.reply-requests
    (one record for a retried request) and its reply view, following that topic, shows
    the reply to another app on the same database."""
    settings, _, token = folded
    settings = settings.model_copy(update={"replies_enabled": True})
    bearer = {"Authorization": f"Bearer {token}"}
    async with (
        web_app(settings) as first,
        web_app(settings) as second,
        aiohttp.ClientSession(headers=bearer) as api,
    ):
        body = {"text": "Thank you: a crew is on its way.", "id": "click-1"}
        url = f"{first}/api/review/i-flood/reply"
        await until_async(
            lambda: status_of(api.post(url, json=body)), 202, "the item folded into the database"
        )
        again = await api.post(url, json=body)
        assert again.status == 202
        answer = await again.json()
        assert answer["repeat"] is True
        reply_id = answer["id"]
        (request,) = await read_topic(settings.topics.reply_requests, 1, ReplyRequest)
        assert (request.id, request.item_id, request.requested_by) == (reply_id, "i-flood", "maya")
        assert request.text == body["text"]
        await until_async(
            lambda: status_of(api.get(f"{second}/api/replies/{reply_id}")), 200, "the other app"
        )


async def status_of(call) -> int:
    response = await call
    return int(response.status)


async def until_async(fetch, expected, what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while (got := await fetch()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {got!r} within {within:.0f}s")
        await asyncio.sleep(0.3)


def start_web(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("wb") as log:
        return subprocess.Popen([str(TRIAGE), "web"], env=env, stdout=log, stderr=log)


def run_web(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRIAGE), "web"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_command_serves_until_sigterm_and_needs_a_broker(broker, topic_prefix, tmp_path):
    """`triage web` answers /ready once serving and exits 0 on SIGTERM; without
    TRIAGE_BROKER it refuses to start and says why."""
    port = free_port()
    env = {
        **os.environ,
        "TRIAGE_BROKER": broker.url,
        "TRIAGE_TOPIC_PREFIX": topic_prefix,
        "TRIAGE_DATA_DIR": str(tmp_path),
        "TRIAGE_WEB_PORT": str(port),
        "TRIAGE_LOG_LEVEL": "warning",
    }
    log_path = tmp_path / "web.log"
    web = start_web(env, log_path)
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                with contextlib.suppress(aiohttp.ClientError):
                    return (await session.get(f"http://127.0.0.1:{port}/ready")).status == 200
                return False

            deadline = time.monotonic() + 90
            while not await ready():
                assert web.poll() is None, log_path.read_text()[-2000:]
                assert time.monotonic() < deadline, "not ready in 90s"
                await asyncio.sleep(0.3)
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=30)
    assert web.returncode == 0, log_path.read_text()[-2000:]

    no_broker = {k: v for k, v in env.items() if k != "TRIAGE_BROKER"}
    refused = await asyncio.to_thread(run_web, no_broker)
    assert refused.returncode == 2
    assert "needs TRIAGE_BROKER" in refused.stderr
