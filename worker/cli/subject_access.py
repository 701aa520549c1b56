"""``triage subject-access``: everything held about one person, as JSON and CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from worker.cli import get_settings
from worker.db import Database, DatabaseError, database_url, upgrade
from worker.db.privacy import AUTHOR_KEY, PrivacyError, subject_access, write_export


@click.command("subject-access")
@click.option("--author", "author_key", required=True, help=f"Whose data: {AUTHOR_KEY}.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The folder to write the export into (made owner-only).",
)
@click.option("--by", required=True, help="The manager or admin account asking (recorded).")
@click.pass_context
def command(ctx: click.Context, author_key: str, out: Path, by: str) -> None:
    """Export everything held about one person as JSON and CSV (audited).

    Their comments with verdicts, review items, decisions, cases, audit records and
    ledger, read from the database; the export is recorded in privacy_log."""
    settings = get_settings(ctx)
    try:
        database = Database(database_url(settings))
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        upgrade(database)
        export = subject_access(database, author_key, by=by, now=datetime.now(UTC))
    except (DatabaseError, PrivacyError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.close()
    written = write_export(export, out)
    total = sum(export.counts().values())
    click.echo(f"exported {total} rows about {author_key} into {len(written)} files", err=True)
    for path in written:
        click.echo(str(path))
