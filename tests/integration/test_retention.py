"""Topic retention on the embedded broker: what the worker creates, and what it refuses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from connectors import GenericWebhookConnector
from connectors.settings import ConnectorSettings
from records import Topics
from records.admin import ensure_topic
from records.kafka import KafkaConnection
from records.retention import RetentionPolicy, load_retention
from records.topics import DAY_MS
from tests.polling import until
from worker.retention import topic_specs

pytestmark = pytest.mark.integration

TRIAGE = Path(sys.executable).parent / "triage"


async def describe(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        out = {}
        for response in await admin.describe_configs(resources):
            for _code, _msg, _type, name, entries in (r[:5] for r in response.resources):
                out[name] = {entry[0]: entry[1] for entry in entries}
        return out
    finally:
        await admin.close()


async def existing(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def create(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs=configs)])
    finally:
        await admin.close()


async def test_topics_are_made_from_their_spec_or_by_name(broker, topic_prefix):
    """ensure_topic gives a spec's topic its settings and the one partition it asks for, a
    bare name the settings passed, and leaves an existing topic as it is."""
    topics = Topics(topic_prefix)
    kafka = KafkaConnection((broker.bootstrap,))
    emergency = topics.specs(RetentionPolicy())[topics.emergency]
    named = f"{topic_prefix}named"
    await ensure_topic(kafka, emergency, 3)
    await ensure_topic(kafka, named, 2, configs={"cleanup.policy": "compact"})
    await ensure_topic(kafka, named, 5)  # exists: unchanged
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([emergency.name, named])
    finally:
        await admin.close()
    assert {t["topic"]: len(t["partitions"]) for t in described} == {emergency.name: 1, named: 2}
    configs = await describe(broker.bootstrap, [emergency.name, named])
    assert configs[named]["cleanup.policy"] == "compact"
    assert configs[emergency.name]["cleanup.policy"] == emergency.cleanup
    assert configs[emergency.name]["retention.ms"] == str(emergency.retention_ms)


async def test_the_worker_creates_every_topic_with_its_retention(running_worker, broker):
    """Every topic of the table exists once the worker runs, with the table's cleanup and
    retention.ms, as DescribeConfigs reports them."""
    worker = await running_worker()
    specs = topic_specs(worker.settings)

    async def all_there() -> bool:
        return set(specs) <= await existing(broker.bootstrap)

    await until(all_there, "every topic of the table to exist")
    described = await describe(broker.bootstrap, sorted(specs))
    for name, spec in specs.items():
        assert described[name] == spec.configs(), name
    assert described[worker.topics.audit]["retention.ms"] == str(2190 * DAY_MS)


def run_worker(broker, topic_prefix: str, log_path: Path, **env: str) -> subprocess.Popen:
    values = {
        **os.environ,
        "TRIAGE_BROKER": broker.url,
        "TRIAGE_TOPIC_PREFIX": topic_prefix,
        "TRIAGE_APP_ID": f"{topic_prefix}ret".replace(".", "-"),
        "TRIAGE_PARTITIONS": "2",
        "TRIAGE_WEB_PORT": "0",
        "TRIAGE_LOG_FORMAT": "json",
        "TRIAGE_LOG_LEVEL": "info",
        **env,
    }
    log = log_path.open("ab")
    return subprocess.Popen([str(TRIAGE), "run"], env=values, stdout=log, stderr=log)


async def short_topics(broker, topics: Topics) -> None:
    # One day on the audit trail; nothing set at all (the broker's default) on decisions.
    await create(broker.bootstrap, topics.audit, {"retention.ms": str(DAY_MS)})
    await create(broker.bootstrap, topics.decisions, {})


async def test_triage_run_refuses_to_start_while_a_record_topic_deletes_too_soon(
    broker, topic_prefix, tmp_path
):
    """`triage run` exits 1 naming each short topic with its period and the policy's,
    and creates nothing before it does."""
    topics = Topics(topic_prefix)
    await short_topics(broker, topics)
    log_path = tmp_path / "worker.log"
    proc = run_worker(broker, topic_prefix, log_path)
    try:
        code = await asyncio.to_thread(proc.wait, 120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    output = log_path.read_text(encoding="utf-8")
    assert code == 1, output
    assert (
        f"{topics.audit}: deletes records after 1 day, but the policy keeps them "
        "2190 days (moderation.audit_retention_days)"
    ) in output
    assert (
        f"{topics.decisions}: deletes records after 7 days (broker default: retention.ms "
        "unset), but the policy keeps them 2190 days (retention.decisions_days)"
    ) in output
    assert "TRIAGE_ALLOW_SHORT_RETENTION=true" in output
    assert topics.verdicts not in await existing(broker.bootstrap)


async def test_the_override_starts_the_worker_with_a_warning(broker, topic_prefix, tmp_path):
    """With TRIAGE_ALLOW_SHORT_RETENTION=true the worker starts and logs each short topic
    at warning level, then stops cleanly on SIGTERM."""
    topics = Topics(topic_prefix)
    await short_topics(broker, topics)
    log_path = tmp_path / "worker.log"
    proc = run_worker(broker, topic_prefix, log_path, TRIAGE_ALLOW_SHORT_RETENTION="true")
    try:
        await until(
            lambda: "web app listening" in log_path.read_text(encoding="utf-8") or proc.poll(),
            "the worker to start",
            within=180,
        )
        assert proc.poll() is None, log_path.read_text(encoding="utf-8")
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = await asyncio.to_thread(proc.wait, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    output = log_path.read_text(encoding="utf-8")
    warnings = [line for line in output.splitlines() if "TRIAGE_ALLOW_SHORT_RETENTION" in line]
    assert len(warnings) == 2, output
    assert all('"level": "warning"' in line for line in warnings)
    assert any(topics.audit in line for line in warnings)
    assert code == 0, f"exit {code} after {time.monotonic() - started:.0f}s"


async def test_connectors_create_their_topics_with_the_tables_settings(
    broker, topic_prefix, tmp_path
):
    """A webhook connector creates social.comments, and the actions connector's topic
    helper triage.audit, with the cleanup and retention of the table."""
    settings = ConnectorSettings(  # type: ignore[call-arg]
        _env_file=None,
        broker=broker.url,
        topic_prefix=topic_prefix,
        connector_state_dir=tmp_path / "state",
        connector_port=0,
        webhook_secret="s",
    )
    connector = GenericWebhookConnector(settings)
    try:
        await connector.setup()
        await until(lambda: connector.sink.connected, "the connector's sink to connect")
    finally:
        await connector.cleanup()
    topics = settings.topics
    await ensure_topic(
        settings.kafka, topics.audit, 1, 1, configs=settings.topic_configs(topics.audit)
    )
    described = await describe(broker.bootstrap, [topics.comments, topics.audit])
    specs = topics.specs(load_retention(settings.policy))
    assert described[topics.comments] == specs[topics.comments].configs()
    assert described[topics.audit] == specs[topics.audit].configs()
    assert described[topics.comments]["retention.ms"] == str(90 * DAY_MS)
