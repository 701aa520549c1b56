"""The officers' app and API on their own (`triage web`), over the database's read side.

Nothing here folds a topic: the pages read the tables the projector keeps
(worker/db/views.py), so any number of these processes can serve the same council, and
sessions, sign-outs, API tokens and the sign-in limiter are shared through the database
already (worker/web/session.py). What the app writes still goes to Kafka, as in the
worker: decisions to triage.decisions, emergency switches to triage.emergency, through
one producer that waits for the broker's acknowledgement (assignments and notes to
triage.handling too). Live updates poll the queue's
stamp in the database. The one view held here is the reply desk's: it follows
triage.reply-requests and triage.reply-outcomes whole, as the worker's does (a bad record
there is skipped here; the worker's own reader dead-letters it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from aiohttp import web
from aiokafka import AIOKafkaProducer

from records import encode
from records.admin import ensure_topic
from records.handling import HandlingRecord
from records.moderation import Decision
from records.reply import ReplyRequest
from records.reply import replies_enabled as enabled_by
from records.sla import EmergencyChange
from worker.clock import Clock, SystemClock
from worker.context import WorkerContext
from worker.db.views import install
from worker.follow import OnCrash, TopicFollower
from worker.moderation.messages import check_templates
from worker.moderation.policy import load_moderation_config
from worker.replies.desk import ReplyDesk
from worker.replies.part import load_replying, template_text
from worker.retention import topic_specs
from worker.settings import Settings
from worker.sla.agent import load_policy
from worker.users import open_store
from worker.web.app import create_web_app

__all__ = ["KafkaWrites", "reply_follower", "serve", "web_context"]

log = structlog.get_logger(__name__)


async def next_of(*waits: Coroutine[Any, Any, Any]) -> None:
    """Returns when the first of ``waits`` is done, cancelling the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class KafkaWrites:
    """One producer for what the app writes: decisions, emergency switches, replies."""

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

    async def handling(self, record: HandlingRecord) -> None:
        # Keyed by item id: an item's assignments stay in the order written.
        await self._producer.send_and_wait(
            self.topics.handling, key=record.item_id.encode(), value=encode(record)
        )

    async def reply_request(self, request: ReplyRequest) -> None:
        # Keyed by reply id, as the actions connector reads it.
        await self._producer.send_and_wait(
            self.topics.reply_requests, key=request.id.encode(), value=encode(request)
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
    ctx.views.handling_sink = writes.handling
    replying = load_replying(ctx)
    ctx.views.replies = ReplyDesk(
        enabled=enabled_by(replying, settings.replies_enabled),
        sink=writes.reply_request,
        texts=template_text(ctx, replying),
        now=ctx.clock.now,
        mastodon_max=settings.mastodon_max_characters,
    )
    return ctx


def reply_follower(settings: Settings, desk: ReplyDesk, on_crash: OnCrash) -> TopicFollower:
    """Follows the reply topics into ``desk``; a failure goes to ``on_crash``."""
    topics = settings.topics
    handlers = {topics.reply_requests: desk.fold_request, topics.reply_outcomes: desk.fold_outcome}
    return TopicFollower(settings, handlers, name="web-replies-view", on_crash=on_crash)


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
    follower: TopicFollower | None = None
    if ctx.views.replies is not None:

        def crashed(error: BaseException) -> None:
            ctx.fatal.set(error, "web replies view")

        follower = reply_follower(settings, ctx.views.replies, crashed)
    try:
        # The worker makes it too; the first assignment may come before the worker ran.
        await ensure_topic(
            settings.kafka,
            topic_specs(settings)[settings.topics.handling],
            settings.partitions,
            settings.replication_factor,
        )
        if follower is not None:
            # The follower waits for both topics; the worker may not have made them yet.
            specs = topic_specs(settings)
            for name in (settings.topics.reply_requests, settings.topics.reply_outcomes):
                await ensure_topic(
                    settings.kafka, specs[name], settings.partitions, settings.replication_factor
                )
            await follower.start()
        await runner.setup()
        site = web.TCPSite(runner, settings.web_host, settings.web_port)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else settings.web_port
        ctx.web_url = f"http://{settings.web_host}:{port}"
        ctx.ready = True
        log.info("web app listening", url=ctx.web_url)
        if listening is not None:
            listening(ctx.web_url)
        await next_of(stop.wait(), ctx.fatal.event.wait())
        if ctx.fatal.error is not None:
            raise ctx.fatal.error
    finally:
        ctx.ready = False
        await runner.cleanup()
        if follower is not None:
            await follower.stop()
        with contextlib.suppress(Exception):
            await writes.stop()
        if ctx.views.users is not None:
            ctx.views.users.database.close()
