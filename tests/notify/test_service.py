"""The notifier as a service of the worker (``triage run``), and ``triage notify``'s checks."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from tests.integration.conftest import READY_TIMEOUT_S, KeywordClassifier, worker_settings
from tests.notify.conftest import MD, block_alert, notify_settings
from tests.polling import until
from worker.app import create_app
from worker.cli import cli
from worker.context import WorkerContext


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
        rendered = ctx.metrics.render().decode()
        assert 'triage_notifications_sent_total{channel="email"} 1.0' in rendered
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
