"""``triage run``: the worker and the officers' app, until Ctrl-C or SIGTERM.

It migrates the database as it starts (as ``triage db upgrade`` does) and, unless
TRIAGE_PROJECTOR is false, folds the topics into the database's read side; unless
TRIAGE_RETENTION_INTERVAL_HOURS is 0, it runs the database's retention job daily. The app it
serves (unless ``--no-web``) reads that database, as `triage web` does, rather than the
agents' in-memory views: one read side for both. Without
TRIAGE_BROKER it starts the embedded broker first (in memory, for one machine) and stops
it last. The App runs in this process's event loop rather than under ``faust.Worker``,
which would take over logging and signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import click
import structlog
from aiokafka.errors import KafkaError

from classifiers import ClassifierError
from records.policy import PolicyError
from records.retention import load_retention
from worker.app import create_app
from worker.broker import BrokerError, EmbeddedBroker
from worker.cli import get_settings
from worker.cli.notify import notify_settings
from worker.context import WorkerContext
from worker.db import Database, DatabaseError
from worker.db.projector import Projector
from worker.db.retention import run_scheduled
from worker.db.views import install
from worker.notify.config import NotifySettings
from worker.retention import TopicRetentionError, check_retention, topic_specs
from worker.settings import Settings
from worker.users import UserError, open_store

log = structlog.get_logger(__name__)

# The embedded broker serves one worker: a short session makes restarts quick.
EMBEDDED_SESSION_TIMEOUT_S = 6.0


class StartError(RuntimeError):
    """The worker could not start (broker, classifier or web port); the message says why."""


@asynccontextmanager
async def running(
    settings: Settings, notify: NotifySettings | None = None, *, web_app: bool = True
) -> AsyncIterator[tuple[Any, WorkerContext]]:
    """The started App and its context (embedded broker too when none is configured)."""
    broker: EmbeddedBroker | None = None
    if settings.embedded:
        broker = EmbeddedBroker()
        try:
            await asyncio.to_thread(broker.start)
        except BrokerError as exc:
            raise StartError(str(exc)) from exc
        settings = settings.model_copy(
            update={
                "broker": broker.url,
                "session_timeout_s": min(settings.session_timeout_s, EMBEDDED_SESSION_TIMEOUT_S),
            }
        )
    app = None
    parts: list[asyncio.Task[None]] = []
    try:
        ctx = WorkerContext(settings=settings)
        # Before anything is built or created: an existing topic may delete records early.
        await _check_retention(settings, ctx)
        await asyncio.to_thread(_open_database, ctx)
        app = await asyncio.to_thread(_build, settings, ctx, notify, web_app)
        if web_app:
            _read_database(ctx)
        try:
            await app.start()
        except OSError as exc:
            raise StartError(
                f"could not serve on {settings.web_host}:{settings.web_port}: {exc.strerror}"
            ) from exc
        if settings.projector:
            parts.append(_start_part(ctx, "projector", Projector(settings, _db(ctx)).run()))
        if settings.retention_interval_hours > 0:
            parts.append(_start_part(ctx, "retention", _retention_job(settings, ctx)))
        yield app, ctx
    finally:
        for part in parts:
            part.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await part
        if app is not None:
            await app.stop()
        if broker is not None:
            await asyncio.to_thread(broker.stop)


def _open_database(ctx: WorkerContext) -> None:
    """Migrates the database to this version's schema and opens the officers' accounts."""
    try:
        ctx.views.users = open_store(ctx.settings)
    except (DatabaseError, UserError) as exc:
        raise StartError(str(exc)) from exc


def _read_database(ctx: WorkerContext) -> None:
    """Points the app's views at the database (worker/db/views.py); emergency switches are
    still published by the SLA part, which applies them to its own view at once."""
    assert ctx.views.users is not None
    memory = ctx.views.sla
    config = ctx.views.moderation_config
    assert memory is not None
    assert config is not None
    sla = install(
        ctx.views, ctx.views.users.database, config=config, policy=memory.policy, clock=ctx.clock
    )
    sla.publish_emergency = memory.publish_emergency


def _db(ctx: WorkerContext) -> Database:
    assert ctx.views.users is not None
    return ctx.views.users.database


def _retention_job(settings: Settings, ctx: WorkerContext) -> Coroutine[Any, Any, None]:
    """The daily retention run on the database (worker/db/retention.py)."""
    try:
        retention = load_retention(settings.policy)
    except PolicyError as exc:
        raise StartError(str(exc)) from exc
    every = timedelta(hours=settings.retention_interval_hours)
    return run_scheduled(_db(ctx), retention, every=every, now=ctx.clock.now)


def _start_part(
    ctx: WorkerContext, name: str, work: Coroutine[Any, Any, None]
) -> asyncio.Task[None]:
    """Runs ``work`` (the projector folding the topics into the database's read side, or
    the retention job) until the worker stops; one that fails stops the worker, as any
    failed part does."""
    task = asyncio.create_task(work, name=name)

    def ended(done: asyncio.Task[None]) -> None:
        error = None if done.cancelled() else done.exception()
        if error is not None:
            ctx.fatal.set(error, name)

    task.add_done_callback(ended)
    return task


def _build(
    settings: Settings, ctx: WorkerContext, notify: NotifySettings | None, web_app: bool
) -> Any:
    try:
        # Without the officers' app the worker still answers /health, /ready and /metrics.
        return create_app(settings, ctx=ctx, web_app=True, officers_app=web_app, notify=notify)
    except ClassifierError as exc:
        raise StartError(f"the classifier could not be loaded: {exc}") from exc
    except PolicyError as exc:
        raise StartError(str(exc)) from exc


async def _check_retention(settings: Settings, ctx: WorkerContext) -> None:
    """Refuse to start while an existing topic would delete records too soon."""
    try:
        specs = ctx.topic_specs = topic_specs(settings)
    except PolicyError as exc:
        raise StartError(str(exc)) from exc
    try:
        await check_retention(settings, specs)
    except TopicRetentionError as exc:
        raise StartError(f"topic retention shorter than the policy: {exc}") from exc
    except (KafkaError, OSError) as exc:
        raise StartError(f"could not check the topics' retention: {exc}") from exc


async def serve(
    settings: Settings,
    *,
    while_running: Callable[[Any, WorkerContext], Awaitable[None]] | None = None,
    notify: NotifySettings | None = None,
    web_app: bool = True,
) -> int:
    """Run until a signal, a fatal error or the end of ``while_running``; the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with running(settings, notify, web_app=web_app) as (app, ctx):
            waiters: list[asyncio.Future[Any]] = [
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(ctx.fatal.event.wait()),
            ]
            if while_running is not None:
                waiters.append(asyncio.ensure_future(while_running(app, ctx)))
            done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            fatal = ctx.fatal
            log.info("worker stopping", reason="fatal error" if fatal.error else "asked to stop")
            if fatal.error is not None:
                click.echo(f"triage: stopped: {fatal.reason}", err=True)
                return 1
            return 0
    except StartError as exc:
        click.echo(f"triage: {exc}", err=True)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


@click.command()
@click.option(
    "--no-notify", is_flag=True, help="Leave the notifier out (run `triage notify` elsewhere)."
)
@click.option(
    "--no-web",
    is_flag=True,
    help="Leave the officers' app out (run `triage web` elsewhere); /health, /ready and "
    "/metrics stay.",
)
@click.pass_context
def command(ctx: click.Context, no_notify: bool, no_web: bool) -> None:
    """Run the worker and the officers' app (embedded broker when TRIAGE_BROKER is unset).

    The notifier (mail, Slack, Teams) runs with them when a channel is configured. The app
    reads the database that the worker's projector keeps, as `triage web` does.
    """
    settings = get_settings(ctx)
    notify = None if no_notify else notify_settings(ctx)
    ctx.exit(asyncio.run(serve(settings, notify=notify, web_app=not no_web)))
