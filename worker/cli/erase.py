"""``triage erase``: redact one person's text and identifying fields, for good."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import click
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from records import encode
from records.admin import ensure_topic
from records.policy import PolicyError
from records.privacy import Erasure
from worker.cli import get_settings
from worker.db import Database, DatabaseError, database_url, upgrade
from worker.db.privacy import AUTHOR_KEY, PrivacyError, check_admin, check_author_key, erase
from worker.retention import topic_specs
from worker.settings import Settings


async def _publish(settings: Settings, erasure: Erasure) -> None:
    topic = settings.topics.erasures
    kafka = settings.kafka
    await ensure_topic(
        kafka, topic_specs(settings)[topic], settings.partitions, settings.replication_factor
    )
    producer = AIOKafkaProducer(**kafka.options(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, encode(erasure), key=erasure.author_key.encode())
    finally:
        await producer.stop()


@click.command("erase")
@click.option("--author", "author_key", required=True, help=f"Whose data: {AUTHOR_KEY}.")
@click.option("--reason", required=True, help="Why: the request's reference (recorded).")
@click.option("--by", required=True, help="The admin account carrying it out (recorded).")
@click.pass_context
def command(ctx: click.Context, author_key: str, reason: str, by: str) -> None:
    """Redact one person's text and identifying fields, for good (admin; audited).

    Puts the person on the erasure list (triage.erasures), which every fold and rebuild
    applies, and redacts their rows in the database now. The policy's record of what was
    done (a block, its appeal date) stays, without their words."""
    settings = get_settings(ctx)
    if settings.embedded:
        raise click.ClickException(
            "TRIAGE_BROKER is not set: the erasure list must go on the workers' broker; "
            "the embedded one lives inside `triage run` and cannot be reached from here"
        )
    try:
        check_author_key(author_key)
        erasure = Erasure(
            author_key=author_key, erased_at=datetime.now(UTC), by=by, reason=reason.strip()
        )
    except PrivacyError as exc:
        raise click.BadParameter(str(exc), param_hint="--author") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise click.ClickException(f"the erasure is not valid: {problems}") from None
    try:
        database = Database(database_url(settings))
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        upgrade(database)
        # Who asks is checked before anything is written anywhere.
        check_admin(database, by)
        # The list first: once it is on the topic the erasure holds, even if the database
        # write below fails (the projector applies it when it reads the record).
        asyncio.run(_publish(settings, erasure))
        changed = erase(database, erasure)
    except (DatabaseError, PrivacyError) as exc:
        raise click.ClickException(str(exc)) from None
    except (KafkaError, OSError, PolicyError) as exc:
        raise click.ClickException(f"could not write the erasure list: {exc}") from None
    finally:
        database.close()
    click.echo(json.dumps({"author_key": author_key, "redacted": changed}))
