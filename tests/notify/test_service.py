"""The notifier as a service of the worker (``triage run``), and ``triage notify``'s checks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from tests.integration.conftest import READY_TIMEOUT_S, KeywordClassifier, worker_settings
from tests.notify.conftest import MD, block_alert, notify_settings
from tests.notify.servers import free_port
from tests.polling import until
from worker.app import create_app
from worker.cli import cli
from worker.context import WorkerContext
from worker.notify.service import ensure_topics


@pytest.mark.integration
async def test_worker_runs_the_notifier_and_counts_on_metrics(
    broker, topic_prefix, smtp, produce, no_digest_policy
):
    """A worker built with notifier settings mails a block alert and shows the count on
    its metrics; the notifier stops with the worker."""
    settings = worker_settings(broker, topic_prefix, policy=no_digest_policy)
    ctx = WorkerContext(settings=settings)
    app = create_app(
        settings, ctx=ctx, classifier=KeywordClassifier(), notify=notify_settings(smtp, None)
    )
    await asyncio.wait_for(app.start(), timeout=READY_TIMEOUT_S)
    try:
        await produce(settings.topics.alerts, [block_alert("d3")])
        await until(lambda: [m for m in smtp.inbox.snapshot() if m.rcpt == (MD,)], "the mail")
        # The server has the mail a moment before the notifier reads its answer and counts.
        sent = 'triage_notifications_sent_total{channel="email"} 1.0'
        await until(lambda: sent in ctx.metrics.render().decode(), "the count on /metrics")
    finally:
        await asyncio.wait_for(app.stop(), timeout=30)
    assert not ctx.fatal.error


def test_notify_needs_a_broker_and_a_channel(monkeypatch):
    """`triage notify` exits 2 naming what is missing: a broker, then a channel."""
    for name in ("TRIAGE_BROKER", "TRIAGE_SMTP_URL", "TRIAGE_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TRIAGE_TEAMS_WEBHOOK_URL", raising=False)
    result = CliRunner().invoke(cli, ["notify"])
    assert result.exit_code == 2
    assert "TRIAGE_BROKER" in result.output
    monkeypatch.setenv("TRIAGE_BROKER", "kafka://127.0.0.1:1")
    result = CliRunner().invoke(cli, ["notify"])
    assert result.exit_code == 2
    assert "no channel configured" in result.output


def test_notify_refuses_bad_settings_without_quoting_secrets(monkeypatch):
    """A bad webhook URL is named by its setting; the URL itself is not printed."""
    monkeypatch.setenv("TRIAGE_BROKER", "kafka://127.0.0.1:1")
    monkeypatch.setenv("TRIAGE_SLACK_WEBHOOK_URL", "hooks.example/secret-token-123")
    result = CliRunner().invoke(cli, ["notify"])
    assert result.exit_code == 2
    assert "TRIAGE_SLACK_WEBHOOK_URL" in result.output
    assert "secret-token-123" not in result.output


TRIAGE = Path(sys.executable).parent / "triage"


def _spawn(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen([str(TRIAGE), "notify"], env=env, stdout=log, stderr=log)


async def _get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as r:
            return r.status, await r.text()
    except aiohttp.ClientConnectionError:
        return 0, ""


@pytest.mark.integration
async def test_notify_alone_serves_health_ready_and_metrics(
    broker, topic_prefix, smtp, produce, tmp_path, no_digest_policy
):
    """`triage notify` as its own process answers /health, turns /ready once it consumes,
    and shows the mail it sent on /metrics, which asks for TRIAGE_METRICS_TOKEN."""
    port = free_port()
    app_id = f"{topic_prefix}alone".replace(".", "-")
    env = {
        **os.environ,
        "TRIAGE_BROKER": broker.url,
        "TRIAGE_TOPIC_PREFIX": topic_prefix,
        "TRIAGE_APP_ID": app_id,
        "TRIAGE_PARTITIONS": "2",
        "TRIAGE_SESSION_TIMEOUT_S": "6",
        "TRIAGE_SMTP_URL": smtp.url,
        "TRIAGE_MAIL_FROM": "triage@council.example",
        "TRIAGE_NOTIFY_MANAGING_DIRECTOR": MD,
        "TRIAGE_POLICY": str(no_digest_policy),
        "TRIAGE_NOTIFY_PORT": str(port),
        "TRIAGE_METRICS_TOKEN": "scrape-token",
    }
    for name in ("TRIAGE_SLACK_WEBHOOK_URL", "TRIAGE_TEAMS_WEBHOOK_URL"):
        env.pop(name, None)
    settings = worker_settings(broker, topic_prefix, app_id=app_id)
    await ensure_topics(settings)
    base = f"http://127.0.0.1:{port}"
    proc = _spawn(env, tmp_path / "notify.log")
    try:
        await until(lambda: _status(f"{base}/health", 200), "/health", within=60)
        await until(lambda: _status(f"{base}/ready", 200), "/ready", within=60)
        await produce(settings.topics.alerts, [block_alert("d11")])
        await until(lambda: [m for m in smtp.inbox.snapshot() if m.rcpt == (MD,)], "the mail")
        status, _ = await _get(f"{base}/metrics")
        assert status == 401
        sent = 'triage_notifications_sent_total{channel="email"} 1.0'

        async def counted() -> bool:
            status, text = await _get(f"{base}/metrics", "scrape-token")
            return status == 200 and sent in text

        await until(counted, "the mail counted on /metrics")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


async def _status(url: str, wanted: int) -> bool:
    status, _ = await _get(url)
    return status == wanted
