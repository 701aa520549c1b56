"""``triage broker``: the embedded broker alone, until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading

import click

from worker.broker import BrokerError, EmbeddedBroker
from worker.cli import get_settings


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="0 picks a free port.")
@click.pass_context
def command(ctx: click.Context, port: int) -> None:
    """Run the embedded Kafka-protocol broker; prints its bootstrap address first."""
    get_settings(ctx)
    broker = EmbeddedBroker(port=port or None)
    try:
        broker.start()
    except BrokerError as exc:
        click.echo(f"triage: {exc}", err=True)
        ctx.exit(1)
    # Handlers before the address: whoever reads it may send SIGINT at once.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(broker.bootstrap)
    sys.stdout.flush()
    try:
        stop.wait()
    finally:
        broker.stop()
