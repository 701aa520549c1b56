"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` binaries, a fresh
cluster in a temporary folder, a free loopback port, fsync off.

initdb and postgres refuse to run as root (CI's user): as root the cluster is made and
run by the ``postgres`` account the package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

SUPERUSER = "triage"
INITDB_OPTIONS = ("--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed or would not start; the message says what to do."""


def _bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: TRIAGE_TEST_PG_BIN, PATH, or Debian's own folder."""
    configured = os.environ.get("TRIAGE_TEST_PG_BIN")
    if configured:
        return Path(configured)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PostgresServer:
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """A superuser connection to the ``postgres`` database, in autocommit."""
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        )

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[str]:
        """The URL of a new, empty database, dropped afterwards."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            with self.admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        raise PostgresUnavailable(
            "PostgreSQL is missing: install the postgresql package (apt-get install "
            "postgresql) or set TRIAGE_TEST_PG_BIN to the folder holding initdb"
        )
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    home = Path(tempfile.mkdtemp(prefix="triage-pg-"))
    if as_root:
        account = pwd.getpwnam("postgres")
        os.chown(home, account.pw_uid, account.pw_gid)
    data = home / "data"
    try:
        subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, *INITDB_OPTIONS],
            check=True,
            capture_output=True,
        )
        port = _start(prefix, bin_dir, data, home)
        try:
            yield PostgresServer(port)
        finally:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                check=False,
                capture_output=True,
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _start(prefix: list[str], bin_dir: Path, data: Path, home: Path) -> int:
    options = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    for _ in range(5):  # another process may take the free port first
        port = _free_port()
        started = subprocess.run(
            [
                *prefix,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(home / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-h 127.0.0.1 -p {port} -k {home} {options}",
                "start",
            ],
            check=False,
            capture_output=True,
        )
        if started.returncode == 0 and _answers(port):
            return port
        time.sleep(0.2)
    log = (home / "server.log").read_text(errors="replace")[-2000:]
    raise PostgresUnavailable(f"PostgreSQL did not start:\n{log}")


def _answers(port: int) -> bool:
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres"):
            return True
    except psycopg.OperationalError:
        return False
