"""``triage labels export``: officers' confirmations and corrections, for ``triage train``.

Reads ``triage.labels`` from the start on the configured broker and writes JSON Lines of
``{"text", "labels"}`` (the latest decision per comment wins), which is what
``triage train --labels FILE`` takes. Comments of people on the erasure list, as far as
the database still knows them, are left out.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import click
from aiokafka.errors import KafkaError

from records import InvalidRecord, decode
from records.admin import read_topic
from records.moderation import LabelExample
from worker.cli import get_settings
from worker.db import Database, DatabaseError, database_url, upgrade
from worker.db.erasure import erased_comment_keys
from worker.settings import Settings


async def read_labels(settings: Settings) -> tuple[list[LabelExample], int]:
    """Every label example on the topic now, and how many records could not be read."""
    examples: list[LabelExample] = []
    bad = 0
    for message in await read_topic(settings.kafka, settings.topics.labels):
        try:
            examples.append(decode(message.value, LabelExample))
        except InvalidRecord:
            bad += 1
    return examples, bad


def latest_per_comment(examples: Iterable[LabelExample]) -> list[LabelExample]:
    """One example per comment: the most recent decision about it."""
    latest: dict[str, LabelExample] = {}
    for example in examples:
        held = latest.get(example.comment_key)
        if held is None or example.decided_at >= held.decided_at:
            latest[example.comment_key] = example
    return sorted(latest.values(), key=lambda e: (e.decided_at, e.comment_key))


def write_jsonl(examples: Iterable[LabelExample], out: TextIO) -> int:
    count = 0
    for example in examples:
        out.write(json.dumps({"text": example.text, "labels": list(example.labels)}) + "\n")
        count += 1
    return count


def _erased_comments(settings: Settings) -> set[str]:
    """The comments of people on the erasure list, from the database (docs/data-protection.md)."""
    try:
        database = Database(database_url(settings))
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        upgrade(database)
        with database.read() as session:
            return erased_comment_keys(session)
    except DatabaseError as exc:
        # Refused rather than risk writing an erased person's words into training data.
        raise click.ClickException(f"{exc}: the erasure list cannot be applied") from None
    finally:
        database.close()


@click.group("labels")
def command() -> None:
    """Labelled examples from officers' decisions (triage.labels)."""


@command.command("export")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the JSON Lines ('-' for standard output).",
)
@click.option(
    "--corrections-only", is_flag=True, help="Only the examples where officers changed a label."
)
@click.pass_context
def export(ctx: click.Context, out_path: Path, corrections_only: bool) -> None:
    """Write the officers' labels as JSONL {"text", "labels"} for `triage train --labels`."""
    settings = get_settings(ctx)
    if settings.embedded:
        raise click.UsageError(
            "set TRIAGE_BROKER to the cluster the worker runs against: the embedded "
            "broker keeps nothing between runs"
        )
    try:
        examples, bad = asyncio.run(read_labels(settings))
    except (KafkaError, OSError) as exc:  # TimeoutError is an OSError
        click.echo(f"triage: could not read {settings.topics.labels}: {exc}", err=True)
        ctx.exit(1)
    erased = _erased_comments(settings)
    chosen = [
        e
        for e in latest_per_comment(examples)
        if (not corrections_only or e.source == "corrected") and e.comment_key not in erased
    ]
    if str(out_path) == "-":
        count = write_jsonl(chosen, sys.stdout)
    else:
        with out_path.open("w", encoding="utf-8") as out:
            count = write_jsonl(chosen, out)
    left_out = sum(1 for e in latest_per_comment(examples) if e.comment_key in erased)
    note = f" ({bad} unreadable records skipped)" if bad else ""
    note += f" ({left_out} of erased people left out)" if left_out else ""
    click.echo(f"wrote {count} labelled examples{note}", err=True)
