"""The officers' app and API on their own (`triage web`), over the database's read side.

Nothing here folds a topic: the pages read the tables the projector keeps
(worker/db/views.py), so any number of these processes can serve the same council, and
sessions, sign-outs, API tokens and the sign-in limiter are shared through the database
already (worker/web/session.py). What the app writes still goes to Kafka, as in the
worker: decisions to triage.decisions, emergency switches to triage.emergency, through
one producer that waits for the broker's acknowledgement. Live updates poll the queue's
stamp in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from aiohttp import web
from aiokafka import AIOKafkaProducer

from records import encode
from records.moderation import Decision
from records.sla import EmergencyChange
from worker.clock import Clock, SystemClock
from worker.context import WorkerContext
from worker.db.views import install
from worker.moderation.messages import check_templates
from worker.moderation.policy import load_moderation_config
from worker.settings import Settings
from worker.sla.agent import load_policy
from worker.users import open_store
from worker.web.app import create_web_app

__all__ = ["KafkaWrites", "serve", "web_context"]

log = structlog.get_logger(__name__)


class KafkaWrites:
    """One producer for what the app writes: decisions and emergency switches."""

    def __init__(self, settings: Settings) -> None:
        self.topics = settings.topics
        self._producer = AIOKafkaProducer(
            **settings.kafka.options(), acks="all", client_id=f"{settings.app_id}-web"
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def decision(self, decision: Decision) -> None:
        # Keyed by item id, as the moderation agent reads it with the item.
        await self._producer.send_and_wait(
            self.topics.decisions, key=decision.item_id.encode(), value=encode(decision)
        )

    async def emergency(self, change: EmergencyChange) -> None:
        await self._producer.send_and_wait(
            self.topics.emergency, key=change.id.encode(), value=encode(change)
        )


def web_context(
    settings: Settings, writes: KafkaWrites, clock: Clock | None = None
) -> WorkerContext:
    """A context with the database's views, the accounts, and the producer's writes.
    Raises DatabaseError, UserError or PolicyError with the reason."""
    ctx = WorkerContext(settings=settings, clock=clock or SystemClock())
    store = ctx.views.users = open_store(settings)
    config = load_moderation_config(settings.policy)
    check_templates(config.messages)
    sla = install(
        ctx.views, store.database, config=config, policy=load_policy(settings), clock=ctx.clock
    )
    sla.publish_emergency = writes.emergency
    ctx.views.decision_sink = writes.decision
    return ctx


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    clock: Clock | None = None,
    listening: Callable[[str], None] | None = None,
) -> None:
    """Serves the app on ``web_host:web_port`` until ``stop`` is set."""
    writes = KafkaWrites(settings)
    ctx = await asyncio.to_thread(web_context, settings, writes, clock)
    await writes.start()
    runner = web.AppRunner(create_web_app(ctx), access_log=None)
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.web_host, settings.web_port)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else settings.web_port
        ctx.web_url = f"http://{settings.web_host}:{port}"
        ctx.ready = True
        log.info("web app listening", url=ctx.web_url)
        if listening is not None:
            listening(ctx.web_url)
        await stop.wait()
    finally:
        ctx.ready = False
        await runner.cleanup()
        with contextlib.suppress(Exception):
            await writes.stop()
        if ctx.views.users is not None:
            ctx.views.users.database.close()
