"""``triage db``: the database's schema (Alembic migrations shipped in the package)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import click

from records.policy import PolicyError
from records.retention import load_retention
from worker.cli import get_settings
from worker.db import Database, DatabaseError, current, database_url, head, upgrade
from worker.db.projector import Projector, rebuild
from worker.db.retention import apply_retention
from worker.settings import Settings


@click.group("db")
def command() -> None:
    """The database behind TRIAGE_DATABASE_URL: migrate it, fold the topics into it."""


def _database(ctx: click.Context) -> Database:
    try:
        return Database(database_url(get_settings(ctx)))
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None


@command.command("upgrade")
@click.pass_context
def upgrade_command(ctx: click.Context) -> None:
    """Bring the schema to this version's newest revision (safe to run again)."""
    database = _database(ctx)
    try:
        upgrade(database)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.close()
    click.echo(f"{database.safe_url} is at revision {head()}", err=True)


@command.command("current")
@click.pass_context
def current_command(ctx: click.Context) -> None:
    """Print the database's revision."""
    database = _database(ctx)
    try:
        revision = current(database)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.close()
    if revision is None:
        click.echo("no tables yet: run `triage db upgrade`", err=True)
    else:
        click.echo(revision)


def _broker_settings(ctx: click.Context) -> Settings:
    settings = get_settings(ctx)
    if settings.embedded:
        raise click.ClickException(
            "TRIAGE_BROKER is not set: the embedded broker's topics live only inside "
            "`triage run`, which folds them itself"
        )
    return settings


@command.command("rebuild")
@click.option("--timeout", "timeout_s", type=float, default=3600.0, show_default=True)
@click.pass_context
def rebuild_command(ctx: click.Context, timeout_s: float) -> None:
    """Empty the read-side tables and fold every topic again from its start."""
    settings = _broker_settings(ctx)
    database = _database(ctx)
    try:
        upgrade(database)
        rows = asyncio.run(rebuild(settings, database, timeout_s=timeout_s))
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    except TimeoutError:
        raise click.ClickException(f"the topics were not read within {timeout_s:.0f}s") from None
    finally:
        database.close()
    click.echo(f"rebuilt the read side: {rows} records folded", err=True)


@command.command("project")
@click.pass_context
def project_command(ctx: click.Context) -> None:
    """Fold the topics into the read-side tables until Ctrl-C or SIGTERM."""
    settings = _broker_settings(ctx)
    database = _database(ctx)
    try:
        upgrade(database)
        asyncio.run(_until_signal(Projector(settings, database).run()))
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.close()


@command.command("retention")
@click.option("--by", default="retention-job", show_default=True, help="Recorded as who ran it.")
@click.pass_context
def retention_command(ctx: click.Context, by: str) -> None:
    """Delete the rows older than the policy's periods (run it daily); logged in privacy_log."""
    settings = get_settings(ctx)
    try:
        retention = load_retention(settings.policy)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    database = _database(ctx)
    try:
        upgrade(database)
        deleted = apply_retention(database, retention, by=by, now=datetime.now(UTC))
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.close()
    click.echo(json.dumps({"deleted": deleted}))


async def _until_signal(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
