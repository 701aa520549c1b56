"""``triage backup --out DIR``: the record-keeping topics to files (worker/backup.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from aiokafka.errors import KafkaError

from records.policy import PolicyError
from worker.backup import BackupError, backup
from worker.cli import get_settings


@click.command()
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new or empty folder for the backup.",
)
@click.pass_context
def command(ctx: click.Context, out: Path) -> None:
    """Write the record-keeping topics (audit, decisions, labels, cases, state...) to DIR.

    Needs TRIAGE_BROKER: the embedded broker keeps nothing to back up.
    """
    settings = get_settings(ctx)
    if settings.embedded:
        click.echo("triage: backup needs TRIAGE_BROKER (the cluster to copy)", err=True)
        ctx.exit(2)
    try:
        summary = asyncio.run(backup(settings, out))
    except (BackupError, PolicyError) as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(1)
    except (KafkaError, OSError, TimeoutError) as exc:
        click.echo(f"triage: backup failed: {type(exc).__name__}: {exc}", err=True)
        ctx.exit(1)
    for base, count in summary.records.items():
        click.echo(f"{base}\t{count}")
    click.echo(f"{summary.total} records written to {out}")
