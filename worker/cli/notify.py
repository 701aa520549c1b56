"""``triage notify``: the notifier on its own (``triage run`` starts one too)."""

from __future__ import annotations

import asyncio
import signal

import click
from aiohttp import web
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from records.policy import PolicyError
from worker.cli import get_settings
from worker.context import WorkerContext
from worker.notify.config import NotifySettings
from worker.notify.service import run_notifier
from worker.settings import Settings
from worker.web import ops


def notify_settings(ctx: click.Context) -> NotifySettings:
    """The notifier's settings, from the environment and ``--env-file``; exit 2 if invalid."""
    env_file = (ctx.find_root().obj or {}).get("env_file")
    try:
        return NotifySettings(_env_file=env_file)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            message = str(error["msg"]).removeprefix("Value error, ")
            where = "_".join(str(p) for p in error["loc"]).upper()
            problems.append(f"TRIAGE_{where}: {message}" if where else message)
        click.echo("triage: invalid settings: " + "; ".join(problems), err=True)
        ctx.exit(2)


async def _serve(settings: Settings, notify: NotifySettings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The worker's operations endpoints (/health, /ready, /metrics, TRIAGE_METRICS_TOKEN)
    # over the notifier's own metrics; ready once its consumer has started.
    ctx = WorkerContext(settings=settings)
    app = web.Application()
    ops.setup(app, ctx)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.web_host, notify.notify_port).start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{settings.web_host}:{notify.notify_port}"
        click.echo(f"triage: could not serve on {where}: {exc.strerror}", err=True)
        return 1

    def started() -> None:
        ctx.ready = True

    try:
        await run_notifier(settings, notify, stop, ctx.metrics, on_started=started)
    except PolicyError as exc:
        click.echo(f"triage: {exc}", err=True)
        return 2
    except (KafkaError, OSError) as exc:
        click.echo(f"triage: notifier stopped: {type(exc).__name__}", err=True)
        return 1
    finally:
        ctx.ready = False
        await runner.cleanup()
    return 0


@click.command()
@click.pass_context
def command(ctx: click.Context) -> None:
    """Send the alerts on triage.alerts by mail, Slack and Teams (needs TRIAGE_BROKER).

    Reads the topic in its own consumer group (<app id>-notify) and commits an alert only
    once it is sent or dead-lettered. Serves /health, /ready and /metrics on
    TRIAGE_WEB_HOST:TRIAGE_NOTIFY_PORT. Channels and recipients: docs/operators.md.
    """
    settings = get_settings(ctx)
    notify = notify_settings(ctx)
    if settings.embedded:
        click.echo("triage: triage notify needs TRIAGE_BROKER (triage run has its own)", err=True)
        ctx.exit(2)
    if not notify.channels:
        click.echo(
            "triage: no channel configured: set TRIAGE_SMTP_URL, TRIAGE_SLACK_WEBHOOK_URL "
            "or TRIAGE_TEAMS_WEBHOOK_URL",
            err=True,
        )
        ctx.exit(2)
    ctx.exit(asyncio.run(_serve(settings, notify)))
