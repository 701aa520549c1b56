"""``triage demo``: ``run`` plus a replay of the bundled sample feed, with live progress."""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path
from typing import Any

import click

from records import CATEGORIES
from records.verdict import LANES
from worker.cli import get_settings
from worker.cli.run import serve
from worker.clock import SystemClock
from worker.context import WorkerContext
from worker.metrics import Metrics
from worker.replay import ReplayError, load_feed, replay
from worker.settings import Settings
from worker.users import open_store

SAMPLE_FEED = Path(__file__).resolve().parent.parent / "demo" / "sample_feed.jsonl"


def _count(metrics: Metrics, name: str, **labels: str) -> int:
    value = metrics.registry.get_sample_value(name, labels)
    return int(value or 0)


def progress_line(metrics: Metrics, total: int) -> tuple[int, str]:
    """How many comments are done, and one line of counts per label and lane."""
    residents = _count(metrics, "triage_comments_processed_total", kind="resident")
    council = _count(metrics, "triage_comments_processed_total", kind="council")
    dead = _count(metrics, "triage_dead_letters_total", agent="triage")
    done = residents + council + dead
    labels = " ".join(
        f"{c}={_count(metrics, 'triage_flagged_total', category=c)}" for c in CATEGORIES
    )
    lanes = " ".join(
        f"{lane}={_count(metrics, 'triage_review_items_total', lane=lane)}" for lane in LANES
    )
    line = f"{done}/{total} comments ({council} council replies) | {labels} | lanes: {lanes}"
    return done, line


def demo_officer(settings: Settings) -> tuple[str, str] | None:
    """Create a demo manager account when nobody can sign in yet; None when accounts exist."""
    store = open_store(settings)
    if store.users():
        return None
    password = secrets.token_urlsafe(12)
    store.add("demo", "manager", password)
    return "demo", password


async def show_progress(
    ctx: WorkerContext, feed: Path, rate: float | None, login: tuple[str, str] | None = None
) -> None:
    """Replay ``feed`` once the worker is ready and print counts until all are triaged."""
    comments = load_feed(feed, now=ctx.clock.now())
    while not ctx.ready:  # noqa: ASYNC110 - ctx.ready is a plain flag set by the App
        await asyncio.sleep(0.2)
    click.echo(f"Worker ready. Replaying {len(comments)} comments from {feed.name} ...")
    sender = asyncio.ensure_future(
        replay(
            comments,
            kafka=ctx.settings.kafka,
            topic=ctx.topics.comments,
            rate=rate,
        )
    )
    metrics = ctx.metrics
    tty = sys.stdout.isatty()
    done, line = 0, ""
    while done < len(comments):
        await asyncio.sleep(0.5 if tty else 2.0)
        if sender.done() and sender.exception() is not None:
            raise sender.exception()  # type: ignore[misc]
        done, line = progress_line(metrics, len(comments))
        click.echo(f"\r{line}" if tty else line, nl=not tty)
    await sender
    if tty:
        click.echo()
    url = ctx.web_url or f"http://{ctx.settings.web_host}:{ctx.settings.web_port}"
    click.echo("")
    click.echo("Demo feed triaged:")
    click.echo(f"  {line}")
    click.echo("Where to look next:")
    click.echo(f"  officers' app   {url}/")
    if login is not None:
        # Shown once, on the terminal only (never logged): the demo's own throwaway account.
        click.echo(f"                  sign in as {login[0]!r} with password {login[1]!r}")
    else:
        click.echo("                  sign in with an account from `triage users add`")
    click.echo(f"  health, metrics {url}/ready  {url}/metrics")
    click.echo("The worker keeps running; press Ctrl-C to stop it (and the broker).")
    await asyncio.Event().wait()


@click.command()
@click.option(
    "--feed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=SAMPLE_FEED,
    show_default="the bundled sample feed",
    help="JSON Lines of Comments or templates with offset_minutes.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=50.0,
    show_default=True,
    help="Comments per second.",
)
@click.pass_context
def command(ctx: click.Context, feed: Path, rate: float) -> None:
    """Run the worker and replay a sample feed through it, showing progress."""
    settings = get_settings(ctx)
    try:
        load_feed(feed, now=_now())  # fail before starting anything
    except ReplayError as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(1)

    login = demo_officer(settings)

    async def while_running(_app: Any, wctx: WorkerContext) -> None:
        await show_progress(wctx, feed, rate, login)

    ctx.exit(asyncio.run(serve(settings, while_running=while_running)))


def _now() -> Any:
    return SystemClock().now()
