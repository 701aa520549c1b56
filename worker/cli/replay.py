"""``triage replay FILE``: produce a feed of comments onto social.comments."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from worker.cli import get_settings
from worker.clock import SystemClock
from worker.replay import ReplayError, load_feed, replay


@click.command()
@click.argument("feed", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Comments per second (default: as fast as the broker takes them).",
)
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="CSV only: read Comment FIELD (e.g. text, author.id) from COLUMN.",
)
@click.pass_context
def command(ctx: click.Context, feed: Path, rate: float | None, mapping: tuple[str, ...]) -> None:
    """Replay FEED (JSON Lines of Comments or templates with offset_minutes, or CSV).

    Sends to TRIAGE_BROKER's social.comments, keyed by conversation.
    """
    settings = get_settings(ctx)
    if settings.embedded:
        click.echo("triage: set TRIAGE_BROKER (replay needs a running broker)", err=True)
        ctx.exit(2)
    columns = {}
    for pair in mapping:
        column, sep, field = pair.partition("=")
        if not sep or not column or not field:
            raise click.BadParameter(f"expected COLUMN=FIELD, got {pair!r}", param_hint="--map")
        columns[column] = field
    try:
        comments = load_feed(feed, now=SystemClock().now(), mapping=columns)
    except ReplayError as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(1)

    def progress(sent: int, total: int) -> None:
        end = "\n" if sent == total else "\r"
        click.echo(f"replayed {sent}/{total}", nl=False, err=True)
        click.echo(end, nl=False, err=True)
        sys.stderr.flush()

    sent = asyncio.run(
        replay(
            comments,
            kafka=settings.kafka,
            topic=settings.topics.comments,
            rate=rate,
            progress=progress,
        )
    )
    click.echo(f"{sent} comments sent to {settings.topics.comments}")
