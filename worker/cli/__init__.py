"""The ``triage`` command. Each subcommand lives in its own module, imported when it runs."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import click
from click.utils import make_default_short_help

from worker.logs import configure_logging
from worker.settings import Settings, SettingsError, load_settings

# name -> the one-line summary `triage --help` shows; each name is a module under
# worker.cli exposing ``command``, whose help starts with the same line.
COMMANDS: dict[str, str] = {
    "run": "Run the worker and the officers' app (embedded broker when TRIAGE_BROKER is unset).",
    "demo": "Run the worker and replay a sample feed through it, showing progress.",
    "broker": "Run the embedded Kafka-protocol broker; prints its bootstrap address first.",
    "replay": "Replay FEED (JSON Lines of Comments or templates with offset_minutes, or CSV).",
    "connect": "Run one connector: platform events in, Comments out on social.comments.",
    "classify": "Classify JSON Lines of texts; one verdict line per input line, in order.",
    "detoxify": "detoxify's weights (docs/detoxify.md).",
    "train": "Train the model on labelled files and save it to OUT.",
    "evaluate": (
        "Print per-category precision, recall, F1, ROC AUC and confusions for labelled data."
    ),
    "sla": "Reply deadlines under the policy's office hours.",
    "emergency": (
        "Emergency mode: every query is pointed to the website; the reply clock may pause."
    ),
    "users": "Officers' accounts and roles (viewer, officer, manager, admin).",
    "labels": "Labelled examples from officers' decisions (triage.labels).",
    "db": "The database behind TRIAGE_DATABASE_URL: migrate it, fold the topics into it.",
    "notify": "Send the alerts on triage.alerts by mail, Slack and Teams (needs TRIAGE_BROKER).",
    "subject-access": "Export everything held about one person as JSON and CSV (audited).",
    "erase": "Redact one person's text and identifying fields, for good (admin; audited).",
    "backup": "Write the record-keeping topics (audit, decisions, labels, cases, state...) to DIR.",
    "restore": "Write the records of a `triage backup` folder into the cluster's empty topics.",
}


def _module(name: str) -> str:
    # subject-access lives in worker/cli/subject_access.py.
    return f"worker.cli.{name.replace('-', '_')}"


class LazyGroup(click.Group):
    """Imports a subcommand's module only when it is run: the modules import the ML and
    Kafka stacks at their top, and ``triage --help`` lists them from COMMANDS instead."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if importlib.util.find_spec(_module(name)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or importlib.util.find_spec(_module(cmd_name)) is None:
            return None
        command: click.Command = importlib.import_module(_module(cmd_name)).command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)  # as click's own
        with formatter.section("Commands"):
            formatter.write_dl([(n, make_default_short_help(COMMANDS[n], limit)) for n in names])


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
    configure_logging(settings.log_format, settings.log_level)
    return settings


def main() -> None:
    try:
        cli(prog_name="triage")
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C during start-up
        sys.exit(130)
