"""``triage sla``: reply-deadline tools for operators and tests."""

from __future__ import annotations

import click

from records.policy import PolicyError
from worker.cli import get_settings
from worker.sla.policy import load_sla_policy
from worker.sla.worktime import ClockStopped, WorkCalendar, parse_instant


@click.group()
def command() -> None:
    """Reply deadlines under the policy's office hours."""


@command.command("due")
@click.argument("timestamp")
@click.option(
    "--hours",
    type=click.FloatRange(min=0, max=10_000),
    default=None,
    help="Working hours allowed (default: the policy's reply target, 8).",
)
@click.pass_context
def due(ctx: click.Context, timestamp: str, hours: float | None) -> None:
    """Print when a query received at TIMESTAMP is due, as ISO-8601 local time.

    A TIMESTAMP without a UTC offset is read as local time in the policy's
    working_time.timezone (Europe/London in the shipped policy).
    """
    settings = get_settings(ctx)
    try:
        policy = load_sla_policy(settings.policy)
    except PolicyError as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(2)
    working = policy.working_time
    try:
        received = parse_instant(timestamp, working.zone)
    except ValueError:
        raise click.BadParameter(
            f"{timestamp!r} is not an ISO-8601 timestamp", param_hint="TIMESTAMP"
        ) from None
    target = working.reply_target_hours if hours is None else hours
    try:
        due_at = WorkCalendar(working).add(received, target)
    except (ClockStopped, ValueError) as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(1)
    click.echo(due_at.isoformat())
