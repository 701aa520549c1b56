"""The ``triage`` command. Each subcommand lives in its own module, imported on use."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import click

from worker.settings import Settings, SettingsError, load_settings

# name -> module under worker.cli; each module exposes ``command``.
COMMANDS: dict[str, str] = {
    "run": "run",
    "demo": "demo",
    "broker": "broker",
    "replay": "replay",
    "connect": "connect",
    "classify": "classify",
    "detoxify": "detoxify",
    "train": "train",
    "evaluate": "evaluate",
    "sla": "sla",
    "emergency": "emergency",
    "users": "users",
    "labels": "labels",
    "db": "db",
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when it is run (the ML stack is slow to load)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(
            name
            for name, module in COMMANDS.items()
            if importlib.util.find_spec(f"worker.cli.{module}") is not None
        )

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None or importlib.util.find_spec(f"worker.cli.{module}") is None:
            return None
        command: click.Command = importlib.import_module(f"worker.cli.{module}").command
        return command


@click.group(cls=LazyGroup)
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="TRIAGE_ENV_FILE",
    help="A file of TRIAGE_* settings (environment variables win).",
)
@click.pass_context
def cli(ctx: click.Context, env_file: Path | None) -> None:
    """Triage a council's social media: classify, queue for review, track replies."""
    ctx.obj = {"env_file": env_file}


def get_settings(ctx: click.Context, **overrides: Any) -> Settings:
    """Settings for a subcommand; invalid settings end the program with code 2."""
    env_file = (ctx.find_root().obj or {}).get("env_file")
    try:
        settings = load_settings(env_file, **overrides)
    except SettingsError as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(2)
    from worker.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    return settings


def main() -> None:
    try:
        cli(prog_name="triage")
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C during start-up
        sys.exit(130)
