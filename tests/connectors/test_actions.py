"""`triage connect actions`: hides and deletes carried out on local fakes of Graph and X."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from click.testing import CliRunner

from connectors.actions import (
    ActionsRunner,
    Outcome,
    actions_enabled,
    check_record,
    refusal_outcome,
)
from connectors.http import PlatformRefused
from records import DeadLetter, decode, encode
from records.admin import ensure_topic
from records.kafka import KafkaConnection
from records.moderation import AuditRecord
from tests.polling import until
from worker.cli import cli

from .fakes import serve_fake

PAGE_TOKEN = "test-page-token"
X_USER_TOKEN = "test-x-user-token"
GRAPH_VERSION = "/v25.0"

Seen = tuple[str, str, dict[str, str], Any, str | None]


class FakeGraph:
    """Comment hide (POST with is_hidden or hide) and delete (DELETE) on Graph comment ids."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.gone: set[str] = set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(GRAPH_VERSION + "/{id}", self._handle)
        app.router.add_delete(GRAPH_VERSION + "/{id}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        body = await request.text()
        self.requests.append((request.method, request.path, dict(request.query), body, auth))
        if auth != f"Bearer {PAGE_TOKEN}":
            error = {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}
            return web.json_response({"error": error}, status=400)
        comment = request.match_info["id"]
        if comment in self.gone:
            error = {
                "message": "Unsupported request: the object does not exist",
                "type": "GraphMethodException",
                "code": 100,
                "error_subcode": 33,
            }
            return web.json_response({"error": error}, status=400)
        if request.method == "DELETE":
            self.gone.add(comment)
        return web.json_response({"success": True})


class FakeXHide:
    """X API v2 hide replies, answering 503 first for the ids in ``outage``."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.outage: dict[str, int] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_put("/2/tweets/{id}/hidden", self._hide)
        return app

    async def _hide(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        body = await request.json()
        self.requests.append((request.method, request.path, dict(request.query), body, auth))
        if auth != f"Bearer {X_USER_TOKEN}":
            return web.json_response({"title": "Unauthorized", "status": 401}, status=401)
        tweet = request.match_info["id"]
        if self.outage.get(tweet, 0) > 0:
            self.outage[tweet] -= 1
            return web.json_response({"title": "Service Unavailable", "status": 503}, status=503)
        return web.json_response({"data": {"hidden": body.get("hidden") is True}})


CONNECTORS = {"facebook": "meta", "instagram": "meta", "x": "x", "mastodon": "mastodon"}


def audit(
    n: int, platform: str, comment_id: str, action: str = "hide", connector: str | None = ""
) -> AuditRecord:
    """An audit record as the moderation agent writes it; ``connector`` defaults to the
    platform's own connector (None: a record without one)."""
    when = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    return AuditRecord(
        id=f"dec-{n}",
        decision_id=f"dec-{n}",
        item_id=f"item-{n}",
        author_key=f"{platform}:author{n % 3}",
        platform=platform,
        author_id=f"author{n % 3}",
        channel="council",
        comment_key=f"{platform}:{comment_id}",
        connector=CONNECTORS.get(platform) if connector == "" else connector,
        posted_at=when,
        text="an unacceptable post",
        action=action,  # type: ignore[arg-type]
        decided_by="officer1",
        decided_at=when,
    )


def write_policy(tmp_path: Path, enabled: bool) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f"moderation:\n  connector_actions_enabled: {str(enabled).lower()}\n")
    return path


async def produce(bootstrap: str, topic: str, items: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def dead_letters(bootstrap: str, topic: str, expected: int) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        out: list[DeadLetter] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(out) < expected:
            for messages in (await consumer.getmany(timeout_ms=300)).values():
                out.extend(decode(m.value, DeadLetter) for m in messages)
        await asyncio.sleep(0.5)  # one more read, so that an extra letter would be seen
        for messages in (await consumer.getmany(timeout_ms=300)).values():
            out.extend(decode(m.value, DeadLetter) for m in messages)
        return out
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def running(runner: ActionsRunner) -> AsyncIterator[ActionsRunner]:
    await runner.setup()
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        await runner.stop()
        await asyncio.wait_for(task, 30)
        await runner.cleanup()


def actions(runner: ActionsRunner, platform: str, outcome: str) -> float:
    return runner.metrics.value("connector_actions_total", platform=platform, outcome=outcome)


async def all_committed(bootstrap: str, group: str, topic: str) -> None:
    """Wait until the group's commits reach the end of every partition of ``topic``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions
        deadline = time.monotonic() + 30
        while True:
            ends = await consumer.end_offsets(partitions)
            committed = {tp: await consumer.committed(tp) for tp in partitions}
            if all(committed[tp] == ends[tp] for tp in partitions):
                return
            assert time.monotonic() < deadline, f"not all committed: {committed} of {ends}"
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


async def no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeGraph, FakeXHide, str, str]]:
    graph, x = FakeGraph(), FakeXHide()
    graph_runner, graph_url = await serve_fake(graph.app())
    x_runner, x_url = await serve_fake(x.app())
    yield graph, x, graph_url + GRAPH_VERSION, x_url
    await graph_runner.cleanup()
    await x_runner.cleanup()


def test_policy_switch_is_read_and_off_by_default(tmp_path):
    """The bundled policy leaves actions off; a policy saying true turns them on."""
    from connectors.settings import DEFAULT_POLICY

    assert actions_enabled(DEFAULT_POLICY) is False
    assert actions_enabled(write_policy(tmp_path, True)) is True
    assert actions_enabled(write_policy(tmp_path, False)) is False


def test_disabled_actions_refuse_to_start(monkeypatch, tmp_path, broker):
    """With the policy's switch off the command says so in one line and exits with code 2."""
    monkeypatch.setenv("TRIAGE_BROKER", broker.url)
    monkeypatch.setenv("TRIAGE_POLICY", str(write_policy(tmp_path, False)))
    monkeypatch.setenv("TRIAGE_META_PAGE_ACCESS_TOKEN", PAGE_TOKEN)
    result = CliRunner().invoke(cli, ["connect", "actions"])
    assert result.exit_code == 2
    assert "connector actions are disabled" in result.output
    assert "connector_actions_enabled" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert PAGE_TOKEN not in result.output


def test_enabled_without_tokens_names_the_settings(monkeypatch, tmp_path, broker):
    """Enabled but with no platform token, the command names both token settings (exit 2)."""
    monkeypatch.setenv("TRIAGE_BROKER", broker.url)
    monkeypatch.setenv("TRIAGE_POLICY", str(write_policy(tmp_path, True)))
    monkeypatch.delenv("TRIAGE_META_PAGE_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("TRIAGE_X_USER_ACCESS_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["connect", "actions"])
    assert result.exit_code == 2
    assert "TRIAGE_META_PAGE_ACCESS_TOKEN" in result.output
    assert "TRIAGE_X_USER_ACCESS_TOKEN" in result.output


def test_refusals_are_sorted_into_done_dead_letter_and_stop():
    """A gone comment completes a delete but not a hide; a bad token stops everything."""
    gone = {"error": {"code": 100, "error_subcode": 33}}
    assert refusal_outcome(PlatformRefused(400, "/1_2", gone), "facebook", "delete").kind == "done"
    assert refusal_outcome(PlatformRefused(404, "/1_2"), "instagram", "delete").kind == "done"
    hide = refusal_outcome(PlatformRefused(400, "/1_2", gone), "facebook", "hide")
    assert hide.kind == "refused"
    assert "Graph error 100" in hide.reason
    forbidden = refusal_outcome(PlatformRefused(403, "/2/tweets/5/hidden"), "x", "hide")
    assert forbidden == Outcome("refused", "x refused: the hide failed with HTTP 403")
    with pytest.raises(PlatformRefused):
        refusal_outcome(PlatformRefused(400, "/1_2", {"error": {"code": 190}}), "facebook", "hide")
    with pytest.raises(PlatformRefused):
        refusal_outcome(PlatformRefused(401, "/2/tweets/5/hidden"), "x", "hide")


@pytest.mark.integration
async def test_actions_are_carried_out_once_and_survive_a_restart(
    broker, make_settings, topic_prefix, tmp_path, fakes
):
    """Every platform gets exactly the documented requests once; refusals are dead letters."""
    graph, x, graph_base, x_base = fakes
    x.outage["1850000000000000001"] = 2  # two 503s, then it works
    graph.gone.add("42_9")
    settings = make_settings(
        broker,
        policy=write_policy(tmp_path, True),
        meta_graph_base=graph_base,
        meta_page_access_token=PAGE_TOKEN,
        x_api_base=x_base,
        x_user_access_token=X_USER_TOKEN,
        connector_max_retries=1,  # the 2nd 503 exhausts the client: the runner retries
        actions_retry_interval_s=0.2,
        actions_session_timeout_s=6,  # the restart waits out the old member's session
        actions_backfill=True,  # the records below are on the topic before the first start
    )
    topics = settings.topics
    await ensure_topic(KafkaConnection((broker.bootstrap,)), topics.audit, 2, 1)
    fb_delete = audit(2, "facebook", "42_2", "delete")
    records = [
        audit(1, "facebook", "42_1"),
        fb_delete,
        fb_delete,  # replayed: the comment is gone by then, which counts as done
        audit(3, "instagram", "17900000000000001"),
        audit(4, "x", "1850000000000000001"),
        audit(5, "x", "1850000000000000002", "delete"),
        audit(6, "mastodon", "113000000000000001"),
        audit(7, "facebook", "42_9"),
        audit(8, "facebook", "42_8", "warn"),
    ]
    items = [(r.author_key, encode(r)) for r in records] + [("facebook:x", b"not json")]
    await produce(broker.bootstrap, topics.audit, items)

    runner = ActionsRunner(settings, sleep=no_sleep, port=0)
    async with running(runner):
        await until(lambda: len(graph.requests) == 5 and len(x.requests) == 4)
        await until(lambda: actions(runner, "mastodon", "unsupported") == 1)
        await all_committed(broker.bootstrap, runner.group_id, topics.audit)
        async with httpx.AsyncClient(base_url=runner.url, timeout=10) as http:
            health = await http.get("/health")
            exposed = (await http.get("/metrics")).text
    assert health.status_code == 200
    assert health.json()["platforms"] == ["facebook", "instagram", "x"]
    assert 'connector_actions_total{connector="actions",outcome="done",platform="x"} 2.0' in exposed
    assert PAGE_TOKEN not in exposed
    page = f"Bearer {PAGE_TOKEN}"
    user = f"Bearer {X_USER_TOKEN}"
    v = GRAPH_VERSION
    assert sorted(graph.requests) == sorted(
        [
            ("POST", f"{v}/42_1", {"is_hidden": "true"}, "", page),
            ("DELETE", f"{v}/42_2", {}, "", page),
            ("DELETE", f"{v}/42_2", {}, "", page),
            ("POST", f"{v}/17900000000000001", {"hide": "true"}, "", page),
            ("POST", f"{v}/42_9", {"is_hidden": "true"}, "", page),
        ]
    )
    hide_1: Seen = ("PUT", "/2/tweets/1850000000000000001/hidden", {}, {"hidden": True}, user)
    hide_2: Seen = ("PUT", "/2/tweets/1850000000000000002/hidden", {}, {"hidden": True}, user)
    assert sorted(x.requests) == sorted([hide_1, hide_1, hide_1, hide_2])
    assert x.outage["1850000000000000001"] == 0
    assert actions(runner, "facebook", "done") == 3
    assert actions(runner, "facebook", "failed") == 1
    assert actions(runner, "instagram", "done") == 1
    assert actions(runner, "x", "done") == 2
    assert runner.metrics.value("connector_http_retries_total", cause="server_error") == 2

    letters = await dead_letters(broker.bootstrap, topics.deadletter, expected=2)
    reasons = sorted(letter.error for letter in letters)
    assert len(reasons) == 2, reasons
    assert reasons[0] == (
        "facebook the comment no longer exists: the hide failed with HTTP 400, Graph error 100"
    )
    assert reasons[1].startswith("invalid audit record")
    gone = next(letter for letter in letters if "Graph error" in letter.error)
    assert decode(gone.original_value or b"", AuditRecord).id == "dec-7"
    assert (gone.agent, gone.topic) == ("actions", topics.audit)

    # A restart reads on from the commits: only the new record is carried out.
    await produce(
        broker.bootstrap, topics.audit, [("facebook:a", encode(audit(9, "facebook", "42_3")))]
    )
    restarted = ActionsRunner(settings, sleep=no_sleep)
    async with running(restarted):
        await until(lambda: len(graph.requests) == 6)
        await all_committed(broker.bootstrap, restarted.group_id, topics.audit)
    assert graph.requests[-1][:3] == ("POST", f"{v}/42_3", {"is_hidden": "true"})
    assert len(graph.requests) == 6
    assert len(x.requests) == 4
    assert actions(restarted, "facebook", "done") == 1
    assert len(await dead_letters(broker.bootstrap, topics.deadletter, expected=2)) == 2


@pytest.mark.integration
async def test_first_start_without_backfill_acts_only_on_new_decisions(
    broker, make_settings, tmp_path, fakes
):
    """Enabling actions does not replay what was decided before; what follows is carried out."""
    graph, _x, graph_base, _x_base = fakes
    settings = make_settings(
        broker,
        policy=write_policy(tmp_path, True),
        meta_graph_base=graph_base,
        meta_page_access_token=PAGE_TOKEN,
        actions_session_timeout_s=6,
    )
    topics = settings.topics
    await ensure_topic(KafkaConnection((broker.bootstrap,)), topics.audit, 2, 1)
    # One key, so one partition: read from the start, the old record would come first.
    old = audit(1, "facebook", "42_1")
    await produce(broker.bootstrap, topics.audit, [("facebook:same", encode(old))])

    runner = ActionsRunner(settings, sleep=no_sleep)
    async with running(runner):
        consumer = runner._consumer
        assert consumer is not None
        await until(lambda: bool(consumer.assignment()))
        for tp in consumer.assignment():
            await consumer.position(tp)  # the start position is fixed from here on
        new = audit(2, "facebook", "42_2")
        await produce(broker.bootstrap, topics.audit, [("facebook:same", encode(new))])
        await until(lambda: actions(runner, "facebook", "done") == 1)
    assert [r[:3] for r in graph.requests] == [
        ("POST", f"{GRAPH_VERSION}/42_2", {"is_hidden": "true"})
    ]


def test_only_the_platforms_own_connector_is_trusted():
    """A Facebook record is carried out only when the Meta connector brought the comment."""
    assert check_record(audit(1, "facebook", "42_1")) is None
    assert check_record(audit(2, "x", "1850000000000000001")) is None
    for record, came in (
        (audit(3, "facebook", "42_3", connector=None), "no recorded connector"),
        (audit(4, "facebook", "42_4", connector="webhook"), "the webhook connector"),
        (audit(5, "instagram", "17900000000000005", connector="x"), "the x connector"),
        (audit(6, "x", "1850000000000000006", connector="meta"), "the meta connector"),
    ):
        outcome = check_record(record)
        assert outcome is not None
        assert outcome.kind == "refused"
        assert came in outcome.reason
    assert check_record(audit(7, "webhook", "form-1", connector="webhook")) == Outcome(
        "unsupported", "the platform offers no hide or delete to connectors"
    )


@pytest.mark.integration
async def test_records_without_a_trusted_connector_are_dead_lettered(
    broker, make_settings, tmp_path, fakes
):
    """Facebook records that did not come through the Meta connector reach no Graph call."""
    graph, _x, graph_base, _x_base = fakes
    settings = make_settings(
        broker,
        policy=write_policy(tmp_path, True),
        meta_graph_base=graph_base,
        meta_page_access_token=PAGE_TOKEN,
        actions_backfill=True,
        actions_session_timeout_s=6,
    )
    topics = settings.topics
    await ensure_topic(KafkaConnection((broker.bootstrap,)), topics.audit, 2, 1)
    records = [
        audit(1, "facebook", "42_1", "delete", connector=None),
        audit(2, "facebook", "42_2", "delete", connector="webhook"),
        audit(3, "facebook", "42_3", "delete"),
    ]
    await produce(broker.bootstrap, topics.audit, [(r.author_key, encode(r)) for r in records])
    runner = ActionsRunner(settings, sleep=no_sleep)
    async with running(runner):
        await until(lambda: actions(runner, "facebook", "done") == 1)
        await all_committed(broker.bootstrap, runner.group_id, topics.audit)
    assert [r[:2] for r in graph.requests] == [("DELETE", f"{GRAPH_VERSION}/42_3")]
    letters = await dead_letters(broker.bootstrap, topics.deadletter, expected=2)
    assert sorted(letter.error for letter in letters) == [
        "not acted on: the facebook post came through no recorded connector, not meta",
        "not acted on: the facebook post came through the webhook connector, not meta",
    ]
    assert actions(runner, "facebook", "failed") == 2
