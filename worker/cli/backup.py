"""``triage backup --out DIR``: the record-keeping topics to files (worker/backup.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click
from aiokafka.errors import KafkaError

from records.policy import PolicyError
from worker.backup import BackupError, Summary, backup
from worker.cli import get_settings
from worker.settings import Settings


def copy_topics(
    ctx: click.Context,
    verb: str,
    needs: str,
    work: Callable[[Settings], Coroutine[Any, Any, Summary]],
) -> Summary:
    """Runs a backup or restore on the configured cluster and prints its records per
    topic; exits 2 without TRIAGE_BROKER, 1 when it fails, saying why."""
    settings = get_settings(ctx)
    if settings.embedded:
        click.echo(f"triage: {verb} needs TRIAGE_BROKER ({needs})", err=True)
        ctx.exit(2)
    try:
        summary = asyncio.run(work(settings))
    except (BackupError, PolicyError) as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(1)
    except (KafkaError, OSError, TimeoutError) as exc:
        click.echo(f"triage: {verb} failed: {type(exc).__name__}: {exc}", err=True)
        ctx.exit(1)
    for base, count in summary.records.items():
        click.echo(f"{base}\t{count}")
    return summary


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
    summary = copy_topics(ctx, "backup", "the cluster to copy", lambda s: backup(s, out))
    click.echo(f"{summary.total} records written to {out}")
