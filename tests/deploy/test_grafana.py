"""deploy/grafana: the dashboard's queries parse as PromQL and use the provisioned source."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.deploy.tools import DEPLOY, run_tool

GRAFANA = DEPLOY / "grafana"


def dashboards() -> list[dict]:
    paths = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert paths
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def test_every_panel_reads_the_provisioned_prometheus():
    """Each panel and query names the data source uid that provisioning creates."""
    sources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )["datasources"]
    uids = {s["uid"] for s in sources if s["type"] == "prometheus"}
    for dashboard in dashboards():
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] in uids, panel["title"]
            assert panel["targets"], panel["title"]
            assert {t["datasource"]["uid"] for t in panel["targets"]} <= uids


def test_the_dashboard_shows_what_operators_watch():
    """Throughput, lag, classification time, the queue by lane, reply cases, dead letters
    and connector health each have a panel."""
    titles = {p["title"].lower() for d in dashboards() for p in d["panels"]}
    wanted = ["throughput", "lag", "classification time", "queue by lane", "breached"]
    wanted += ["dead letters", "connector health"]
    assert [w for w in wanted if not any(w in t for t in titles)] == []


def test_every_dashboard_query_is_valid_promql(tmp_path: Path):
    """promtool parses each query (as a recording rule, the form it checks)."""
    exprs = [t["expr"] for d in dashboards() for p in d["panels"] for t in p["targets"]]
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = run_tool("promtool", "check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in out


def test_dashboards_are_loaded_from_the_provisioned_folder():
    """The dashboard provider reads the folder that compose mounts the dashboards at."""
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "triage.yml").read_text(encoding="utf-8")
    )["providers"]
    assert [p["options"]["path"] for p in providers] == ["/etc/grafana/dashboards"]
