"""The metrics a running worker exports: every name the alert rules and the dashboard use,
and the whole-system gauges summing to the right totals over two workers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from connectors import GenericWebhookConnector
from connectors.settings import ConnectorSettings
from records.sla import Case
from tests.connectors.conftest import running
from tests.contract.sla import at, post
from tests.integration.test_rebalance import ALL, PARTITIONS, spread_threads
from tests.integration.test_sla_contract import scans_pass
from tests.polling import until
from worker.clock import ManualClock

pytestmark = [pytest.mark.integration]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TOKEN = "metrics-test-token"
# A metric name in PromQL: these prefixes are the product's; `up` is Prometheus's own.
NAME = re.compile(r"\b((?:triage|connector)_[a-z0-9_]+)")


def queries() -> list[str]:
    """Every PromQL expression in the alert rules and the Grafana dashboards."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    found = [r["expr"] for group in rules["groups"] for r in group["rules"]]
    for path in sorted((DEPLOY / "grafana").glob("dashboards/*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            found.extend(t["expr"] for t in panel.get("targets", []))
    return found


def exported(text: str) -> set[str]:
    """The sample names a /metrics page offers (a family with no sample yet counts, with
    the suffixes its type gives it)."""
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + s for s in suffixes.get(family.type, ()))
        names.update(s.name for s in family.samples)
    return names


async def scrape(url: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.text()


async def test_every_metric_the_rules_and_dashboards_use_is_exported(
    running_worker, broker, topic_prefix, tmp_path
):
    """A worker's /metrics and a connector's /metrics together offer every metric name
    that deploy/prometheus/alerts.yml and deploy/grafana/dashboards use."""
    used = {name for expr in queries() for name in NAME.findall(expr)}
    assert {"triage_consumer_lag", "connector_buffered"} <= used
    worker = await running_worker(web=True, metrics_token=TOKEN)
    assert worker.ctx.web_url is not None
    names = exported(await scrape(worker.ctx.web_url + "/metrics", TOKEN))
    settings = ConnectorSettings(  # type: ignore[call-arg]
        _env_file=None,
        broker=broker.url,
        topic_prefix=topic_prefix,
        partitions=2,
        connector_state_dir=tmp_path / "state",
        connector_port=0,
        webhook_secret="metrics-test-secret",
    )
    async with running(GenericWebhookConnector(settings)) as hook:
        names |= exported(await scrape(hook.url + "/metrics"))
    assert sorted(used - names) == []


def sample(worker, name: str, **labels: str) -> float:
    value = worker.ctx.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.mark.slow
async def test_case_and_queue_gauges_sum_to_the_totals_over_two_workers(
    running_worker, produce, read_topic
):
    """With the partitions shared by two workers, the open and breached case counts and
    the review queue summed over both equal the council's totals, each counted once."""
    clock = ManualClock(at("2026-11-23T10:00"))
    first = await running_worker(clock=clock, partitions=PARTITIONS)
    topics = first.topics
    comments = [
        post(f"q{i}", f"pothole number {i}", "2026-11-23T10:00", thread=t)
        for i, t in enumerate(spread_threads("gauge"))
    ]
    await produce(topics.comments, comments, key=lambda c: c.conversation_key)
    cases = await read_topic(topics.cases, len(comments), Case)
    assert len({c.id for c in cases}) == len(comments)
    second = await running_worker(clock=clock, partitions=PARTITIONS)
    workers = (first, second)

    def shared() -> bool:
        owned = [set(w.ctx.views.sla_keeper.owned) for w in workers]
        return all(owned) and not (owned[0] & owned[1]) and owned[0] | owned[1] == ALL

    await until(shared, "the two workers to share the partitions")

    def lag_partitions(worker) -> set[str]:
        samples = worker.ctx.metrics.consumer_lag.collect()[0].samples
        return {s.labels["partition"] for s in samples}

    # The first worker read every partition before the second came; it keeps reporting
    # the lag of none it gave up.
    assert lag_partitions(first) <= {str(p) for p in first.ctx.views.sla_keeper.owned}

    def total(name: str, **labels: str) -> float:
        return sum(sample(w, name, **labels) for w in workers)

    async def settled(name: str, expected: int, **labels: str) -> None:
        for worker in workers:
            await scans_pass(worker, 2)
        await until(lambda: total(name, **labels) == expected, f"{name} to total {expected}")

    await settled("triage_open_cases", len(comments))
    assert total("triage_breached_cases") == 0
    # Each worker holds the whole queue; only one reports it.
    await until(lambda: total("triage_review_queue", lane="response") == len(comments), "queue")
    assert [sample(w, "triage_review_queue", lane="response") > 0 for w in workers].count(True) == 1
    clock.set(at("2026-11-24T11:00"))  # a working day later: every case is past due
    await settled("triage_breached_cases", len(comments))
    assert total("triage_open_cases") == len(comments)
