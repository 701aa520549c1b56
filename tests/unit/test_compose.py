"""docker-compose.yml: a valid file with Kafka (KRaft, persistent), the worker and a connector."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_runs_kafka_in_kraft_mode_on_a_volume():
    """Kafka is the apache/kafka image as broker+controller with its data on a named volume."""
    kafka = load()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    volume, _, mount = kafka["volumes"][0].partition(":")
    assert volume in load()["volumes"]
    assert mount == kafka["environment"]["KAFKA_LOG_DIRS"]


def test_compose_kafka_deletes_nothing_by_default():
    """The broker's defaults keep data for ever: only the topics' own retention deletes."""
    env = load()["services"]["kafka"]["environment"]
    assert env["KAFKA_LOG_RETENTION_MS"] == "-1"
    assert env["KAFKA_LOG_RETENTION_BYTES"] == "-1"
    assert not any(key.startswith("KAFKA_LOG_RETENTION_HOURS") for key in env)
    assert not any(key.startswith("KAFKA_LOG_RETENTION_MINUTES") for key in env)


def test_compose_worker_and_connector_use_the_image_and_kafka():
    """The worker runs `triage run --no-web` and the connector `triage connect webhook`,
    both on Kafka."""
    services = load()["services"]
    worker, webhook = services["worker"], services["webhook"]
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (REPO / worker["build"]["dockerfile"]).exists()
    assert worker["command"] == ["run", "--no-web"]
    assert webhook["command"][:2] == ["connect", "webhook"]
    for service in (worker, webhook):
        assert service["environment"]["TRIAGE_BROKER"] == "kafka://kafka:9092"
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_dockerfile_runs_as_a_non_root_user_on_python_slim():
    """The image is built on python:3.11-slim, installs torch pinned, and drops root."""
    text = (REPO / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11-slim" in text
    assert "-c constraints.txt" in text
    assert "torch==2.13.0" in text
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users
    assert users[-1] not in {"root", "0"}


def _compose_command() -> list[str] | None:
    """`docker compose` when the CLI has its plugin, else Debian's `docker-compose`."""
    if shutil.which("docker"):
        plugin = subprocess.run(
            ["docker", "compose", "version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if plugin.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


COMPOSE_COMMAND = _compose_command()


@pytest.mark.skipif(COMPOSE_COMMAND is None, reason="neither docker compose nor docker-compose")
def test_docker_compose_config_accepts_the_file():
    """`docker compose config` validates the file (needs only the client, no engine)."""
    assert COMPOSE_COMMAND is not None
    result = subprocess.run(
        [*COMPOSE_COMMAND, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr


def test_compose_points_the_worker_at_postgresql_on_a_volume():
    """PostgreSQL keeps its data on a named volume, and the worker's TRIAGE_DATABASE_URL
    names it and waits for it to be healthy."""
    services = load()["services"]
    postgres, worker = services["postgres"], services["worker"]
    assert postgres["image"].startswith("postgres:")
    volume, _, mount = postgres["volumes"][0].partition(":")
    assert volume in load()["volumes"]
    assert mount == "/var/lib/postgresql/data"
    assert "ports" not in postgres
    url = worker["environment"]["TRIAGE_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://triage:")
    assert url.endswith("@postgres:5432/" + postgres["environment"]["POSTGRES_DB"])
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_serves_the_officers_app_apart_from_the_worker():
    """A web service runs `triage web` from the image on the worker's database and Kafka,
    publishes the app's port on the loopback address only, and starts once the worker is
    healthy (the worker migrates the database); the worker publishes no port."""
    services = load()["services"]
    web, worker = services["web"], services["worker"]
    assert web["image"] == worker["image"]
    assert web["command"] == ["web"]
    env = web["environment"]
    assert env["TRIAGE_BROKER"] == "kafka://kafka:9092"
    assert env["TRIAGE_DATABASE_URL"] == worker["environment"]["TRIAGE_DATABASE_URL"]
    assert web["ports"] == ["127.0.0.1:6066:6066"]
    assert "ports" not in worker
    assert web["depends_on"]["worker"]["condition"] == "service_healthy"
