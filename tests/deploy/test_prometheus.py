"""deploy/prometheus: the alert rules and the scrape configuration, checked by promtool."""

from __future__ import annotations

import yaml

from tests.deploy.tools import DEPLOY, run_tool

PROMETHEUS = DEPLOY / "prometheus"


def test_promtool_accepts_the_alert_rules():
    """`promtool check rules` finds every rule in alerts.yml well formed."""
    out = run_tool("promtool", "check", "rules", "alerts.yml", cwd=PROMETHEUS)
    assert "SUCCESS" in out


def test_alert_rules_pass_their_unit_tests():
    """`promtool test rules` fires each alert on the series that should fire it, and only then."""
    out = run_tool("promtool", "test", "rules", "alerts.test.yml", cwd=PROMETHEUS)
    assert "SUCCESS" in out


def test_every_alert_has_a_unit_test_and_a_runbook_entry():
    """Each alert in alerts.yml is exercised by alerts.test.yml and explained in
    docs/operators.md."""
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"] if "alert" in r}
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text(encoding="utf-8"))
    tested = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", [])}
    assert alerts - tested == set()
    runbook = (DEPLOY.parent / "docs" / "operators.md").read_text(encoding="utf-8")
    assert [a for a in sorted(alerts) if f"`{a}`" not in runbook] == []


def test_promtool_accepts_the_scrape_configuration():
    """`promtool check config` accepts prometheus.yml, which loads alerts.yml and scrapes
    the worker with its metrics token (the token file exists only in the container, so
    the syntax alone is checked here)."""
    out = run_tool("promtool", "check", "config", "--syntax-only", "prometheus.yml", cwd=PROMETHEUS)
    assert "SUCCESS" in out
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"triage-worker", "triage-connector"}
    assert "credentials_file" in jobs["triage-worker"]["authorization"]
