"""``triage restore DIR``: a backup's records into an empty cluster (worker/backup.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from aiokafka.errors import KafkaError

from records.policy import PolicyError
from worker.backup import BackupError, restore
from worker.cli import get_settings


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def command(ctx: click.Context, folder: Path) -> None:
    """Write the records of a `triage backup` folder into the cluster's empty topics.

    Run it before the worker's first start on the new cluster, with the same
    TRIAGE_PARTITIONS and topic prefix; nothing is written when a check fails.
    """
    settings = get_settings(ctx)
    if settings.embedded:
        click.echo("triage: restore needs TRIAGE_BROKER (the cluster to fill)", err=True)
        ctx.exit(2)
    try:
        summary = asyncio.run(restore(settings, folder))
    except (BackupError, PolicyError) as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(1)
    except (KafkaError, OSError, TimeoutError) as exc:
        click.echo(f"triage: restore failed: {type(exc).__name__}: {exc}", err=True)
        ctx.exit(1)
    for base, count in summary.records.items():
        click.echo(f"{base}\t{count}")
    click.echo(f"{summary.total} records restored from {folder}")
