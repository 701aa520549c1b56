"""The embedded broker starts, answers Kafka requests, and never outlives its owner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worker.broker import BrokerError, EmbeddedBroker, answers_kafka


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); read its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_starts_on_loopback_and_answers_kafka_then_stops():
    """The broker answers an ApiVersions request on 127.0.0.1 and is gone after stop()."""
    broker = EmbeddedBroker().start()
    pid = broker.pid
    assert pid is not None
    try:
        assert broker.bootstrap.startswith("127.0.0.1:")
        assert answers_kafka("127.0.0.1", broker.port)
    finally:
        broker.stop()
    assert _wait_gone(pid)
    assert not answers_kafka("127.0.0.1", broker.port, timeout=0.2)


def test_missing_binary_is_a_clear_error(tmp_path: Path):
    """A binary that is not there gives a BrokerError naming it."""
    missing = tmp_path / "no-tansu"
    with pytest.raises(BrokerError, match="no-tansu"):
        EmbeddedBroker(binary=str(missing)).start()


def test_a_binary_that_exits_at_once_is_reported(tmp_path: Path):
    """A broker that dies during start-up is reported with its exit code, not waited on."""
    fake = tmp_path / "fake-broker"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(BrokerError, match="exited with code 3"):
        EmbeddedBroker(binary=str(fake), startup_timeout=10).start()


def test_port_in_use_is_reported():
    """Asking for a port another broker holds fails clearly instead of hanging."""
    with EmbeddedBroker() as first, pytest.raises(BrokerError):
        EmbeddedBroker(port=first.port, startup_timeout=5).start()


def test_broker_dies_with_a_parent_killed_by_sigkill(tmp_path: Path):
    """A parent killed with SIGKILL leaves no orphan broker behind."""
    pid_file = tmp_path / "pid"
    script = (
        "import sys, time\n"
        "from worker.broker import EmbeddedBroker\n"
        "b = EmbeddedBroker().start()\n"
        f"open({str(pid_file)!r}, 'w').write(str(b.pid))\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the broker never started"
            time.sleep(0.05)
        broker_pid = int(pid_file.read_text())
        assert _alive(broker_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert _wait_gone(broker_pid), "the broker outlived its parent"
    finally:
        parent.kill()


def test_triage_broker_prints_the_bootstrap_address_first_and_stops_on_ctrl_c():
    """`triage broker` prints 127.0.0.1:PORT as its first stdout line and exits on SIGINT."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from worker.cli import main; main()", "broker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        host, port = first.split(":")
        assert host == "127.0.0.1"
        assert answers_kafka(host, int(port))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert not answers_kafka(host, int(port), timeout=0.2)
    finally:
        proc.kill()
