"""docker-compose.yml's Prometheus and Grafana: what they mount and scrape matches the files
in deploy/ and the services they watch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.deploy.tools import DEPLOY, REPO

COMPOSE = REPO / "docker-compose.yml"


def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def mounts(service: dict) -> dict[str, str]:
    """Container path -> repository file or folder, for the bind mounts."""
    out = {}
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            out[target] = source
    return out


def test_prometheus_loads_the_rules_beside_its_configuration():
    """The configuration and alerts.yml are mounted side by side, as rule_files expects."""
    prometheus = services()["prometheus"]
    mounted = mounts(prometheus)
    config_path = "/etc/prometheus/prometheus.yml"
    assert mounted[config_path] == "./deploy/prometheus/prometheus.yml"
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:
        inside = str(Path(config_path).parent / rule_file)
        assert (REPO / mounted[inside]).is_file()


def test_prometheus_scrapes_the_compose_services_on_their_ports():
    """Each scrape target is a compose service on the port it serves /metrics on."""
    all_services = services()
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: t
        for job in config["scrape_configs"]
        for t in job["static_configs"][0]["targets"]
    }
    assert (
        targets["triage-worker"]
        == f"worker:{all_services['worker']['environment']['TRIAGE_WEB_PORT']}"
    )
    webhook = all_services["webhook"]["command"]
    assert targets["triage-connector"] == f"webhook:{webhook[webhook.index('--port') + 1]}"


def start_script() -> str:
    """The prometheus service's start command as the shell gets it ($$ is compose's $)."""
    prometheus = services()["prometheus"]
    assert prometheus["entrypoint"] == ["/bin/sh", "-c"]
    return prometheus["command"][0].replace("$$", "$")


def test_prometheus_refuses_to_start_without_the_metrics_token():
    """With TRIAGE_METRICS_TOKEN empty the start command stops with a message saying so."""
    result = subprocess.run(
        ["/bin/sh", "-c", start_script()],
        env={"PATH": "/usr/bin:/bin", "TRIAGE_METRICS_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "set TRIAGE_METRICS_TOKEN" in result.stderr


def test_prometheus_gets_the_token_in_the_file_its_scrape_job_reads(tmp_path: Path):
    """The start command writes the token to the scrape job's credentials file, then
    starts Prometheus with the mounted configuration (here a stand-in that echoes)."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [worker_job] = [j for j in config["scrape_configs"] if j["job_name"] == "triage-worker"]
    credentials = worker_job["authorization"]["credentials_file"]
    script = start_script()
    assert credentials in script
    token_file = tmp_path / "metrics-token"
    script = script.replace(credentials, str(token_file)).replace("exec /bin/prometheus", "echo")
    result = subprocess.run(
        ["/bin/sh", "-c", script],
        env={"PATH": "/usr/bin:/bin", "TRIAGE_METRICS_TOKEN": "s3cret"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert token_file.read_text() == "s3cret"
    assert "--config.file=/etc/prometheus/prometheus.yml" in result.stdout


def test_grafana_is_provisioned_with_the_source_and_the_dashboards():
    """Grafana mounts the provisioning folder and the dashboards where the provider looks."""
    grafana = services()["grafana"]
    mounted = mounts(grafana)
    assert mounted["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "triage.yml").read_text()
    )["providers"][0]
    assert mounted[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    source = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in services()
