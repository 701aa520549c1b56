"""``triage users``: add and remove officers' accounts, set passwords, make API tokens,
end sessions."""

from __future__ import annotations

import sys

import click

from records.moderation import ROLES
from worker.cli import get_settings
from worker.db import DatabaseError
from worker.users import UserError, UserStore, open_store


def _store(ctx: click.Context) -> UserStore:
    """The accounts in TRIAGE_DATABASE_URL (migrated first, as `triage db upgrade` would)."""
    try:
        return open_store(get_settings(ctx))
    except (DatabaseError, UserError) as exc:
        raise click.ClickException(str(exc)) from None


def _read_password() -> str:
    # From standard input, so that it stays out of shell history and process lists.
    if sys.stdin.isatty():
        first = click.prompt("Password", hide_input=True, err=True)
        again = click.prompt("Repeat the password", hide_input=True, err=True)
        if first != again:
            raise click.ClickException("the passwords do not match")
        return str(first)
    return sys.stdin.readline().rstrip("\r\n")


@click.group("users")
def command() -> None:
    """Officers' accounts and roles (viewer, officer, manager, admin)."""


@command.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    required=True,
    help="What the user may do.",
)
@click.pass_context
def add(ctx: click.Context, name: str, role: str) -> None:
    """Add a user; the password is read from standard input."""
    store = _store(ctx)
    try:
        user = store.add(name, role, _read_password())
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {user.name} ({user.role})", err=True)


@command.command("token")
@click.argument("name")
@click.pass_context
def token(ctx: click.Context, name: str) -> None:
    """Print a new API token for NAME (shown once: keep it safe)."""
    try:
        click.echo(_store(ctx).issue_token(name))
    except UserError as exc:
        raise click.ClickException(str(exc)) from None


@command.command("remove")
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Remove a user and every token of theirs."""
    try:
        _store(ctx).remove(name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"removed {name}", err=True)


@command.command("password")
@click.argument("name")
@click.pass_context
def password(ctx: click.Context, name: str) -> None:
    """Set NAME's password (read from standard input); ends every session of NAME."""
    try:
        _store(ctx).set_password(name, _read_password())
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password changed for {name}; their sessions have ended", err=True)


@command.command("sign-out")
@click.argument("name")
@click.pass_context
def sign_out(ctx: click.Context, name: str) -> None:
    """End every session of NAME in the officers' app (API tokens stay)."""
    try:
        _store(ctx).end_sessions(name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"signed {name} out everywhere", err=True)


@command.command("list")
@click.pass_context
def list_users(ctx: click.Context) -> None:
    """List users and their roles."""
    try:
        users = _store(ctx).users()
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    for user in users:
        click.echo(f"{user.name}\t{user.role}")
