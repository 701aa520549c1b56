"""SIGKILL of a ``triage notify`` process in the middle of a stream of alerts, twice, then
a restart: every alert is mailed, and a duplicate comes only from an alert sent but not
yet committed when the process died (at most one per kill)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.notify.conftest import sla_alert
from tests.notify.servers import SmtpServer
from tests.notify.test_notifier import committed
from tests.polling import until
from worker.notify.service import ensure_topics
from worker.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOTAL = 90
KILLS = (25, 55)  # kill when this many mails have arrived
REPO = Path(__file__).resolve().parents[2]
TRIAGE = Path(sys.executable).parent / "triage"


def spawn(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(TRIAGE), "notify"], env={**os.environ, **env}, stdout=log, stderr=log, cwd=REPO
        )


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


async def test_sigkill_mid_stream_loses_nothing(
    broker, topic_prefix, produce, tmp_path, monkeypatch, no_digest_policy
):
    """Killed twice while mailing 90 alerts, the notifier mails every one after restarting,
    with at most one duplicate per kill; the counts are printed."""
    smtp = SmtpServer()
    smtp.inbox.delay_s = 0.05
    smtp.start()
    app_id = f"{topic_prefix}proc".replace(".", "-")
    env = {
        "TRIAGE_BROKER": broker.url,
        "TRIAGE_TOPIC_PREFIX": topic_prefix,
        "TRIAGE_APP_ID": app_id,
        "TRIAGE_PARTITIONS": "2",
        "TRIAGE_SESSION_TIMEOUT_S": "6",
        "TRIAGE_SMTP_URL": smtp.url,
        "TRIAGE_MAIL_FROM": "triage@council.example",
        "TRIAGE_NOTIFY_OFFICERS": "one@council.example",
        "TRIAGE_LOG_FORMAT": "json",
        "TRIAGE_POLICY": str(no_digest_policy),
        "TRIAGE_NOTIFY_PORT": "0",  # its /metrics on any free port
    }
    for name in ("TRIAGE_SLACK_WEBHOOK_URL", "TRIAGE_TEAMS_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(broker=broker.url, topic_prefix=topic_prefix, app_id=app_id, partitions=2)
    await ensure_topics(settings)
    alerts = [sla_alert(f"case-{i}") for i in range(TOTAL)]
    await produce(settings.topics.alerts, alerts, key=lambda a: a.id)
    log_path = tmp_path / "notify.log"
    proc = spawn(env, log_path)
    try:
        for at in KILLS:
            await until(lambda at=at: len(smtp.inbox.snapshot()) >= at, f"{at} mails", within=180)
            kill(proc)
            proc = spawn(env, log_path)
        wanted = {a.id for a in alerts}
        await until(
            lambda: wanted <= {m.alert_id for m in smtp.inbox.snapshot()}, "every alert", 240
        )
        group = f"{app_id}-notify"

        async def all_committed() -> bool:
            return await committed(settings, group) == TOTAL

        await until(all_committed, "every alert committed", within=120)
    finally:
        kill(proc)
        smtp.stop()
    counts = Counter(m.alert_id for m in smtp.inbox.snapshot())
    mailed = len(counts)
    duplicates = sum(counts.values()) - mailed
    print(
        f"FIGURES notify sigkill: alerts={TOTAL} kills={len(KILLS)} mailed={mailed} "
        f"duplicates={duplicates} lost={TOTAL - mailed}"
    )
    assert mailed == TOTAL
    assert duplicates <= len(KILLS)
