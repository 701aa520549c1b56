"""``triage db``: the database's schema (Alembic migrations shipped in the package)."""

from __future__ import annotations

import click

from worker.db import Database, DatabaseError, current, database_url, head, upgrade


@click.group("db")
def command() -> None:
    """The database behind TRIAGE_DATABASE_URL: migrate it, say its revision."""


def _database(ctx: click.Context) -> Database:
    from worker.cli import get_settings

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
