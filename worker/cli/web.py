"""``triage web``: the officers' app and API alone, reading the database."""

from __future__ import annotations

import asyncio
import signal

import click
from aiokafka.errors import KafkaError

from records.policy import PolicyError
from worker.cli import get_settings
from worker.db import DatabaseError
from worker.settings import Settings
from worker.users import UserError
from worker.web.standalone import serve


async def _serve(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(settings, stop)
    except (DatabaseError, UserError, PolicyError) as exc:
        click.echo(f"triage: {exc}", err=True)
        return 2
    except KafkaError as exc:
        click.echo(
            f"triage: cannot reach the broker at {settings.broker}: {type(exc).__name__}", err=True
        )
        return 1
    except OSError as exc:
        click.echo(
            f"triage: could not serve on {settings.web_host}:{settings.web_port}: {exc.strerror}",
            err=True,
        )
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


@click.command()
@click.pass_context
def command(ctx: click.Context) -> None:
    """Serve the officers' app and API alone, reading the database (needs TRIAGE_BROKER).

    The pages read what the projector of `triage run` folds into TRIAGE_DATABASE_URL;
    decisions and emergency switches go to Kafka. Run as many as you like on one database.
    """
    settings = get_settings(ctx)
    if settings.embedded:
        click.echo(
            "triage: triage web needs TRIAGE_BROKER (triage run serves its own app)", err=True
        )
        ctx.exit(2)
    ctx.exit(asyncio.run(_serve(settings)))
