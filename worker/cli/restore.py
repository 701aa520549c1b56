"""``triage restore DIR``: a backup's records into an empty cluster (worker/backup.py)."""

from __future__ import annotations

from pathlib import Path

import click

from worker.backup import restore
from worker.cli.backup import copy_topics


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def command(ctx: click.Context, folder: Path) -> None:
    """Write the records of a `triage backup` folder into the cluster's empty topics.

    Run it before the worker's first start on the new cluster, with the same
    TRIAGE_PARTITIONS and topic prefix; nothing is written when a check fails.
    """
    summary = copy_topics(ctx, "restore", "the cluster to fill", lambda s: restore(s, folder))
    click.echo(f"{summary.total} records restored from {folder}")
