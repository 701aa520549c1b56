"""``triage emergency on|off|status``: switch emergency mode for every worker."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime

import click
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from records import InvalidRecord, decode, encode
from records.admin import ensure_topic, read_topic
from records.policy import PolicyError
from records.sla import EmergencyChange
from worker.cli import get_settings
from worker.retention import topic_specs
from worker.settings import Settings
from worker.sla.emergency import EmergencyState

log = structlog.get_logger(__name__)


@click.group()
def command() -> None:
    """Emergency mode: every query is pointed to the website; the reply clock may pause."""


def _settings(ctx: click.Context) -> Settings:
    settings = get_settings(ctx)
    if settings.embedded:
        click.echo(
            "triage: set TRIAGE_BROKER to the workers' broker (kafka://host:port); the "
            "embedded broker lives inside a running worker and cannot be reached from here",
            err=True,
        )
        ctx.exit(2)
    return settings


async def _publish(settings: Settings, change: EmergencyChange) -> None:
    kafka = settings.kafka
    topic = settings.topics.emergency
    await ensure_topic(kafka, topic_specs(settings)[topic], 1, settings.replication_factor)
    producer = AIOKafkaProducer(**kafka.options(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, encode(change), key=change.id.encode())
    finally:
        await producer.stop()


async def _history(settings: Settings) -> list[EmergencyChange]:
    kafka = settings.kafka
    topic = settings.topics.emergency
    await ensure_topic(kafka, topic_specs(settings)[topic], 1, settings.replication_factor)
    state = EmergencyState()
    for message in await read_topic(kafka, topic):
        try:
            state = state.add(decode(message.value, EmergencyChange))
        except InvalidRecord as exc:  # one bad switch record must not hide the others
            log.warning("unreadable emergency change skipped", reason=exc.reason)
    return list(state.changes)


def _switch(ctx: click.Context, active: bool, by: str, reason: str) -> None:
    by, reason = by.strip(), reason.strip()
    if not by or len(by) > 100:
        raise click.BadParameter("give a name of 1 to 100 characters", param_hint="--by")
    if not reason or len(reason) > 1000:
        raise click.BadParameter("give a reason of 1 to 1000 characters", param_hint="--reason")
    settings = _settings(ctx)
    now = datetime.now(UTC)
    change = EmergencyChange(
        id=f"emergency-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}",
        active=active,
        by=by,
        reason=reason,
        at=now,
    )
    try:
        asyncio.run(_publish(settings, change))
    except (KafkaError, OSError, PolicyError) as exc:  # broker unreachable, refused, ...
        click.echo(f"triage: could not record the change: {exc}", err=True)
        ctx.exit(1)
    click.echo(json.dumps(change.to_json_dict()))


_by = click.option("--by", required=True, help="Who is switching (recorded).")
_reason = click.option("--reason", required=True, help="Why (recorded).")


@command.command("on")
@_by
@_reason
@click.pass_context
def switch_on(ctx: click.Context, by: str, reason: str) -> None:
    """Switch emergency mode on."""
    _switch(ctx, True, by, reason)


@command.command("off")
@_by
@_reason
@click.pass_context
def switch_off(ctx: click.Context, by: str, reason: str) -> None:
    """Switch emergency mode off."""
    _switch(ctx, False, by, reason)


@command.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Print whether emergency mode is on, and its history, as JSON."""
    settings = _settings(ctx)
    try:
        changes = asyncio.run(_history(settings))
    except (KafkaError, OSError, PolicyError) as exc:  # TimeoutError is an OSError
        click.echo(f"triage: could not read the emergency history: {exc}", err=True)
        ctx.exit(1)
    active = bool(changes) and changes[-1].active
    click.echo(json.dumps({"active": active, "history": [c.to_json_dict() for c in changes]}))
