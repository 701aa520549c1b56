"""`triage backup` and `triage restore`: the record round-trips through two embedded
brokers, and the ledger and the reply-time report read from each come out the same."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from records import decode
from records.admin import read_topic
from records.moderation import AuditRecord
from records.sla import Case
from tests.contract.sla import LONDON, at, post, reply_decision
from tests.polling import until
from worker.backup import BackupError, backup, record_topics, restore
from worker.broker import EmbeddedBroker
from worker.clock import ManualClock
from worker.moderation.decisions import DecisionRequest
from worker.moderation.service import submit_decision
from worker.settings import Settings
from worker.sla.report import build_report, to_json
from worker.users import User

pytestmark = pytest.mark.integration

OFFICER = User("olive", "officer")


async def reports(settings: Settings) -> dict[str, Any]:
    """The authors' ledger folded from triage.audit and the day's reply-time report from
    triage.cases, as JSON, read from the cluster of ``settings``."""
    topics = settings.topics
    audit = [decode(r.value, AuditRecord) for r in await read_topic(settings.kafka, topics.audit)]
    ledger: dict[str, Any] = {}
    for record in sorted(audit, key=lambda r: (r.decided_at, r.id)):
        ledger.setdefault(record.author_key, []).append((record.action, record.decided_by))
    latest: dict[str, Case] = {}
    for r in await read_topic(settings.kafka, topics.cases):
        case = decode(r.value, Case)
        latest[case.id] = case
    rows = build_report(
        latest.values(),
        period="day",
        first=date(2026, 11, 23),
        last=date(2026, 11, 24),
        now=at("2026-11-24T12:00"),
        zone=LONDON,
    )
    return {"ledger": ledger, "report": json.loads(json.dumps(to_json(rows), default=str))}


async def records_of(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Each record topic's records as (partition, key, value, timestamp), in order."""
    out = {}
    for base in record_topics():
        got = await read_topic(settings.kafka, settings.topics.prefix + base)
        out[base] = sorted((r.partition, r.key, r.value, r.timestamp) for r in got)
    return out


@pytest.mark.slow
async def test_backup_then_restore_into_another_cluster_keeps_the_record(
    running_worker, produce, read_topic_until, tmp_path: Path
):
    """Audit, cases, decisions and the SLA state written by a worker on one broker come
    back record for record on a second broker, with the same ledger and report."""
    clock = ManualClock(at("2026-11-23T10:00"))
    worker = await running_worker(clock=clock, partitions=2)
    topics, ctx = worker.topics, worker.ctx
    query = post("q1", "pothole on the high street", "2026-11-23T10:00", thread="t1")
    abuse = post("a1", "you idiot", "2026-11-23T10:05", thread="t2")
    await produce(topics.comments, [query, abuse], key=lambda c: c.conversation_key)

    review = ctx.views.review

    def moderation_item() -> Any:
        items = review.items(lane="moderation")
        return items[0] if items else None

    item = await until(moderation_item, "the moderation item")
    await until(lambda: review._state.moderation.get(item.id), "the moderation record")
    await submit_decision(ctx, OFFICER, DecisionRequest(item_id=item.id, action="hide"))
    clock.set(at("2026-11-23T12:00"))
    decision = reply_decision(query, "replied", "2026-11-23T12:00")
    await produce(topics.decisions, [decision], key=decision.item_id)

    def case_closed(records: list[Any]) -> bool:
        return any(decode(r.value, Case).status == "closed" for r in records)

    await read_topic_until(topics.cases, case_closed)
    await read_topic_until(topics.audit, lambda records: len(records) >= 1)
    await worker.app.stop()

    before = await reports(worker.settings)
    assert before["ledger"] == {abuse.author_key: [("hide", "olive")]}
    overall = before["report"][0]
    assert (overall["received"], overall["within_target"]) == (1, 1)
    summary = await backup(worker.settings, tmp_path / "backup")
    assert summary.records["triage.audit"] == 1
    assert summary.records["triage.sla-state"] >= 1

    with EmbeddedBroker(log_path=tmp_path / "second.log") as second:
        restored = worker.settings.model_copy(update={"broker": second.url})
        result = await restore(restored, tmp_path / "backup")
        assert result.records == summary.records
        assert await records_of(restored) == await records_of(worker.settings)
        assert await reports(restored) == before
        with pytest.raises(BackupError, match="already holds records"):
            await restore(restored, tmp_path / "backup")


async def test_restore_refuses_a_changed_file_or_another_partition_count(
    broker, topic_prefix: str, tmp_path: Path
):
    """A backup whose file no longer matches its checksum, or a cluster set up with other
    partitions, is refused before anything is written."""
    settings = Settings(broker=broker.url, topic_prefix=topic_prefix, partitions=2)
    await backup(settings, tmp_path / "backup")  # empty topics: empty files
    with pytest.raises(BackupError, match="partitions"):
        await restore(settings.model_copy(update={"partitions": 3}), tmp_path / "backup")
    (tmp_path / "backup" / "triage.audit.jsonl").write_text('{"partition": 0}\n')
    with pytest.raises(BackupError, match="checksum"):
        await restore(settings, tmp_path / "backup")
    with pytest.raises(BackupError, match="not empty"):
        await backup(settings, tmp_path / "backup")
    assert await asyncio.wait_for(read_topic(settings.kafka, settings.topics.audit), 60) == []


def test_the_commands_copy_the_record_under_another_prefix(broker, topic_prefix, tmp_path):
    """`triage backup --out DIR` then `triage restore DIR` with another topic prefix gives
    the same records there; without TRIAGE_BROKER both refuse with exit code 2."""
    from aiokafka import AIOKafkaProducer
    from click.testing import CliRunner

    from worker.cli import cli

    async def write_label() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(f"{topic_prefix}triage.labels", b'{"x":1}', key=b"k")
        finally:
            await producer.stop()

    asyncio.run(write_label())
    runner = CliRunner()
    env = {"TRIAGE_BROKER": broker.url, "TRIAGE_TOPIC_PREFIX": topic_prefix}
    out = tmp_path / "copy"
    done = runner.invoke(cli, ["backup", "--out", str(out)], env=env)
    assert done.exit_code == 0, done.output
    assert "triage.labels\t1" in done.output
    other = {**env, "TRIAGE_TOPIC_PREFIX": f"{topic_prefix}copy."}
    done = runner.invoke(cli, ["restore", str(out)], env=other)
    assert done.exit_code == 0, done.output
    settings = Settings(broker=broker.url, topic_prefix=f"{topic_prefix}copy.")
    copied = asyncio.run(read_topic(settings.kafka, settings.topics.labels))
    assert [(r.key, r.value) for r in copied] == [(b"k", b'{"x":1}')]
    again = runner.invoke(cli, ["restore", str(out)], env=other)
    assert again.exit_code == 1
    assert "already holds records" in again.output
    for args in (["backup", "--out", str(tmp_path / "none")], ["restore", str(out)]):
        refused = runner.invoke(cli, args, env={"TRIAGE_BROKER": ""})
        assert refused.exit_code == 2
        assert "needs TRIAGE_BROKER" in refused.output
