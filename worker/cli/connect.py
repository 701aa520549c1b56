"""``triage connect meta|x|mastodon|webhook|actions``: run one connector until Ctrl-C.

Connectors need a broker that outlives them (TRIAGE_BROKER): an embedded broker started
here would keep the comments in this process's memory only, so none is started.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from connectors import (
    ConnectorSettingsError,
    GenericWebhookConnector,
    MastodonConnector,
    MetaConnector,
    PlatformRefused,
    SpoolError,
    StateError,
    XConnector,
    serve,
)
from connectors.actions import ActionsRunner, actions_enabled, disabled_message
from connectors.replies import ReplyRunner, RunTogether, replies_disabled_message, replying_enabled
from connectors.settings import load_connector_settings
from worker.cli import get_settings


def _settings(ctx: click.Context, **overrides: Any) -> Any:
    get_settings(ctx)  # logging set-up, and the shared broker settings checked once
    env_file: Path | None = (ctx.find_root().obj or {}).get("env_file")
    try:
        settings = load_connector_settings(env_file, **overrides)
    except ConnectorSettingsError as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(2)
    if not settings.broker:
        click.echo(
            "triage: connectors need a broker: set TRIAGE_BROKER=kafka://host:port "
            "(`triage broker` starts a local one)",
            err=True,
        )
        ctx.exit(2)
    return settings


def _run(ctx: click.Context, connector: Any, announce: bool = False) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(connector.stop()))
        await serve(
            connector,
            on_ready=(lambda: click.echo(f"listening on {connector.url}")) if announce else None,
        )

    try:
        asyncio.run(main())
    except (ConnectorSettingsError, StateError, SpoolError) as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(2)
    except PlatformRefused as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(1)
    except OSError as exc:
        click.echo(f"triage: cannot serve: {exc}", err=True)
        ctx.exit(1)


def _run_poller(
    ctx: click.Context, connector_type: Any, interval: float | None, port: int | None
) -> None:
    overrides = {"connector_poll_interval_s": interval} if interval else {}
    _run(ctx, connector_type(_settings(ctx, **overrides), port=port), announce=port is not None)


def _listen_options(func: Callable[..., None]) -> Callable[..., None]:
    """--host and --port for the connectors that receive webhooks."""
    func = click.pass_context(func)
    func = click.option(
        "--port", type=click.IntRange(0, 65535), default=None, help="0 picks a free port."
    )(func)
    return click.option(
        "--host", default=None, help="Address to listen on (TRIAGE_CONNECTOR_HOST)."
    )(func)


def _poll_options(func: Callable[..., None]) -> Callable[..., None]:
    """--interval and --port for the connectors that poll a platform."""
    func = click.pass_context(func)
    func = click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=None,
        help="Serve /health and /metrics on this port (0 picks a free one).",
    )(func)
    return click.option(
        "--interval",
        type=click.FloatRange(min=1),
        default=None,
        help="Seconds between polls (TRIAGE_CONNECTOR_POLL_INTERVAL_S).",
    )(func)


@click.group()
def command() -> None:
    """Run one connector: platform events in, Comments out on social.comments."""


@command.command()
@_listen_options
def meta(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Facebook Page and Instagram webhooks on /webhooks/meta."""
    settings = _settings(ctx)
    _run(ctx, MetaConnector(settings, host=host, port=port), announce=True)


@command.command()
@_listen_options
def webhook(ctx: click.Context, host: str | None, port: int | None) -> None:
    """The signed generic webhook on /webhooks/generic (web chat, forms, integrations)."""
    settings = _settings(ctx)
    _run(ctx, GenericWebhookConnector(settings, host=host, port=port), announce=True)


@command.command()
@_poll_options
def x(ctx: click.Context, interval: float | None, port: int | None) -> None:
    """Poll X (API v2) for mentions and the account's own replies."""
    _run_poller(ctx, XConnector, interval, port)


@command.command()
@_poll_options
def mastodon(ctx: click.Context, interval: float | None, port: int | None) -> None:
    """Poll Mastodon for mentions, direct messages and the account's own replies."""
    _run_poller(ctx, MastodonConnector, interval, port)


@command.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /health and /metrics on this port (0 picks a free one).",
)
@click.pass_context
def actions(ctx: click.Context, port: int | None) -> None:
    """Hide and delete posts, and post officers' replies, on the platforms (each only when
    the policy allows it)."""
    settings = _settings(ctx)
    try:
        enabled = actions_enabled(settings.policy)
        replying = replying_enabled(settings)
    except ConnectorSettingsError as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(2)
    if not enabled and not replying:
        message = f"{disabled_message(settings.policy)}; {replies_disabled_message(settings)}"
        click.echo(f"triage: {message}", err=True)
        ctx.exit(2)
    runners: list[Any] = []
    if enabled:
        runners.append(ActionsRunner(settings, port=port))
    if replying:
        # With the actions' metrics, so that /metrics shows the replies' platform calls too.
        metrics = runners[0].metrics if runners else None
        runners.append(ReplyRunner(settings, metrics=metrics))
    if len(runners) == 1 and enabled:
        _run(ctx, runners[0], announce=port is not None)
        return
    _run(ctx, RunTogether(*runners), announce=port is not None and enabled)
