"""Fixtures for the notifier's tests: a real SMTP server, the chat webhooks' server, a
notifier running in this event loop on the session broker, and alerts to send."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest

from records.sla import Alert, BlockNotice, NoticePost
from tests.integration.conftest import produce, read_topic, worker_settings
from tests.notify.servers import ChatServer, SmtpServer
from worker.metrics import Metrics
from worker.notify.config import NotifySettings
from worker.notify.service import Notifier, build_notifier, ensure_topics
from worker.settings import DEFAULT_POLICY, Settings

__all__ = ["produce", "read_topic"]  # the integration fixtures, reused here

NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
OFFICERS = "one@council.example,two@council.example"
COMMS = "comms@council.example"
MD = "md@council.example"


def sla_alert(case: str, kind: str = "sla_at_risk") -> Alert:
    return Alert(
        id=f"{case}:{kind}",
        kind=kind,
        severity="critical" if kind == "sla_breach" else "warning",
        subject=f"facebook:page:{case}",
        message="Reply deadline near: a facebook query on facebook:page is due Wed 02 Dec 09:30.",
        created_at=NOW,
        data={
            "case_id": case,
            "item_id": f"item-{case}",
            "channel": "facebook:page",
            "received_at": "2026-12-01T09:30:00+00:00",
            "due_at": "2026-12-02T09:30:00+00:00",
            "seconds_left": 3600,
        },
    )


def block_alert(decision: str) -> Alert:
    post = NoticePost(
        item_id="item-9",
        channel="nherts",
        posted_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        text="you idiot",
        categories=("abusive",),
        reasons=("Unacceptable behaviour: rude, abusive or harassing posts",),
    )
    notice = BlockNotice(
        platform="facebook",
        account_name="Pat Example",
        account_handle="@pat",
        posts=(post,),
        posts_total=1,
        reasons=post.reasons,
        decided_by="alice",
        decided_at=NOW,
        appealable_from=date(2027, 6, 1),
    )
    return Alert(
        id=f"md-block-{decision}",
        kind="author_blocked",
        severity="warning",
        subject="facebook:author-9",
        message="An account on facebook was blocked by alice.",
        created_at=NOW,
        data={
            "item_id": "item-9",
            "audit_id": decision,
            "decided_by": "alice",
            "appealable_from": "2027-06-01",
            "for": "managing_director",
        },
        notice=notice,
    )


@pytest.fixture
def no_digest_policy(tmp_path: Any) -> Any:
    """The shipped policy with the morning digest off, for tests that count every mail."""
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    assert "  daily_digest: true\n" in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace("  daily_digest: true\n", "  daily_digest: false\n"))
    return path


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """aiosmtpd on a free loopback port, plain SMTP."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
async def chat() -> AsyncIterator[ChatServer]:
    """The Slack and Teams webhooks' stand-in on a free loopback port."""
    server = await ChatServer().start()
    yield server
    await server.stop()


def notify_settings(
    smtp: SmtpServer | None, chat: ChatServer | None, **extra: Any
) -> NotifySettings:
    values: dict[str, Any] = {
        "notify_officers": OFFICERS,
        "notify_comms_manager": COMMS,
        "notify_managing_director": MD,
        "notify_retry_base_s": 0.01,
        "notify_retry_max_s": 0.05,
        "notify_app_url": "https://triage.council.example",
    }
    if smtp is not None:
        values.update(smtp_url=smtp.url, mail_from="triage@council.example")
    if chat is not None:
        values.update(
            slack_webhook_url=f"{chat.url}/slack/T000-secret",
            teams_webhook_url=f"{chat.url}/teams/flow-secret",
        )
    values.update(extra)
    return NotifySettings(**values)


@dataclass
class Running:
    notifier: Notifier
    settings: Settings
    metrics: Metrics
    stop: asyncio.Event
    task: asyncio.Task[None]

    def count(self, metric: str, channel: str) -> float:
        value = self.metrics.registry.get_sample_value(f"{metric}_total", {"channel": channel})
        return value or 0.0


@pytest.fixture
async def start_notifier(broker: Any, topic_prefix: str) -> AsyncIterator[Callable[..., Any]]:
    """``await start_notifier(notify_settings)``: a notifier in this loop, stopped at the end."""
    running: list[Running] = []

    async def start(
        notify: NotifySettings, clock: Any = None, digest: bool = False, **fields: Any
    ) -> Running:
        settings = worker_settings(broker, topic_prefix, session_timeout_s=6.0)
        await ensure_topics(settings)
        metrics = Metrics()
        notifier = build_notifier(settings, notify, metrics, clock)
        if not digest:
            notifier.calendar = None  # its mails would add to every test's counts
        for name, value in fields.items():
            setattr(notifier, name, value)
        stop = asyncio.Event()
        task = asyncio.ensure_future(notifier.run(stop))
        run = Running(notifier, settings, metrics, stop, task)
        running.append(run)
        return run

    yield start
    for run in running:
        run.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(run.task, timeout=30)
