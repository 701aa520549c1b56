"""A webhook connector killed with SIGKILL while Kafka is down loses nothing it answered 200.

`triage connect webhook` runs as a real process. Kafka is either frozen (SIGSTOP) after the
connector has connected, or not there at all when the comments come in; signed comments are
answered 200 from the spool; the connector is killed; Kafka comes back and the connector is
started again. Every comment answered 200 must then be on social.comments; copies of one
comment (a batch the frozen broker took and confirmed only after the kill) are counted and
printed, as consumers drop them by comment key.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from connectors.generic import sign
from records import Topics
from tests.connectors.conftest import read_topic
from worker.broker import EmbeddedBroker, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRIAGE = Path(sys.executable).parent / "triage"
SECRET = "fault-test-secret"
COMMENTS = 12


@pytest.fixture
def spare_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own (not started), so that stopping it freezes nobody else."""
    broker = EmbeddedBroker(port=free_port(), log_path=tmp_path / "tansu.log")
    try:
        yield broker
    finally:
        broker.resume()
        broker.stop()


def start_connector(
    broker: EmbeddedBroker, prefix: str, state: Path, port: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRIAGE_BROKER": broker.url,
        "TRIAGE_TOPIC_PREFIX": prefix,
        "TRIAGE_PARTITIONS": "2",
        "TRIAGE_CONNECTOR_STATE_DIR": str(state),
        "TRIAGE_CONNECTOR_REQUEST_TIMEOUT_S": "5",
        "TRIAGE_WEBHOOK_SECRET": SECRET,
        "TRIAGE_LOG_FORMAT": "json",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(TRIAGE), "connect", "webhook", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
        )


async def wait_listening(url: str, proc: subprocess.Popen[bytes], within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the connector exited"
            try:
                await http.get(f"{url}/health")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise AssertionError("the connector did not start listening")


async def kafka_connected(url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if (await http.get(f"{url}/health")).json()["kafka_connected"]:
                return
            await asyncio.sleep(0.2)
    raise AssertionError("the connector did not connect to Kafka")


async def post_comment(http: httpx.AsyncClient, url: str, n: int) -> int:
    payload = {
        "id": f"msg-{n}",
        "channel": "website",
        "thread_id": f"chat-{n % 3}",
        "author": {"id": f"visitor-{n}"},
        "text": f"Message number {n} about a missed bin",
        "created_at": datetime.now(UTC).isoformat(),
    }
    body = json.dumps(payload).encode()
    stamp = int(time.time())
    headers = {
        "X-Triage-Timestamp": str(stamp),
        "X-Triage-Signature": sign(SECRET.encode(), stamp, body),
        "Content-Type": "application/json",
    }
    answer = await http.post(f"{url}/webhooks/generic", content=body, headers=headers)
    return answer.status_code


def kill(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.parametrize("outage", ["paused", "absent"])
async def test_comments_answered_200_survive_sigkill_during_an_outage(
    outage, spare_broker, topic_prefix, tmp_path
):
    """Every comment answered 200 during the outage is on Kafka after the restart."""
    topic = Topics(topic_prefix).comments
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "connector.log"
    answered: list[str] = []
    first = second = None
    try:
        if outage == "paused":
            spare_broker.start()
        first = start_connector(spare_broker, topic_prefix, tmp_path / "state", port, log)
        await wait_listening(url, first)
        async with httpx.AsyncClient(timeout=30) as http:
            if outage == "paused":
                await kafka_connected(url)
                assert await post_comment(http, url, 0) == 200
                answered.append("msg-0")
                await asyncio.sleep(1.0)  # let it reach Kafka before the freeze
                spare_broker.pause()
            for n in range(1, COMMENTS + 1):
                assert await post_comment(http, url, n) == 200
                answered.append(f"msg-{n}")
            health = (await http.get(f"{url}/health")).json()
        assert health["spooled"] >= COMMENTS
        kill(first)

        if outage == "paused":
            spare_broker.resume()
        else:
            spare_broker.start()
        second = start_connector(spare_broker, topic_prefix, tmp_path / "state", port, log)
        records = await read_topic(spare_broker.bootstrap, topic, len(answered), wait_s=90)
    finally:
        kill(first)
        kill(second)

    copies = Counter(comment.id for _, comment, _ in records)
    duplicates = sum(copies.values()) - len(copies)
    twice = sorted(k for k, v in copies.items() if v > 1)
    print(f"\n{outage}: {len(answered)} answered 200, {len(copies)} arrived,", end=" ")
    print(f"{duplicates} duplicates {twice}")
    assert sorted(copies) == sorted(answered), log.read_text()[-3000:]
    assert duplicates <= len(answered)
    if outage == "absent":
        assert duplicates == 0  # nothing could reach Kafka before the kill
