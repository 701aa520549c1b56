"""The replies part of the worker: the desk, its writer and its readers.

The desk writes officers' replies to ``triage.reply-requests`` through ``rt.producer``
and follows that topic and ``triage.reply-outcomes`` whole, so every worker's pages show
every reply and what became of it.
"""

from __future__ import annotations

import asyncio

import structlog
from aiokafka.errors import KafkaError

from records import ReviewItem, encode
from records.admin import ensure_topic
from records.policy import PolicyError
from records.reply import ReplyingPolicy, ReplyRequest, ReplyTemplate, load_replying_policy
from records.reply import replies_enabled as enabled_by
from worker.context import WorkerContext
from worker.deadletter import DeadLetters, ReaderDeadLetters
from worker.follow import TopicFollower
from worker.moderation.messages import render
from worker.replies.desk import ReplyDesk, TemplateText
from worker.runtime import Runtime, stops_worker
from worker.sla.policy import SlaPolicy

__all__ = ["READER_RETRY_S", "load_replying", "register", "template_text"]

log = structlog.get_logger(__name__)

READER_RETRY_S = 5.0


def load_replying(ctx: WorkerContext) -> ReplyingPolicy:
    """The policy's ``replying`` section (defaults without a policy file)."""
    path = ctx.settings.policy
    if not path.exists():
        return ReplyingPolicy()
    return load_replying_policy(path)  # a broken section stops the worker with PolicyError


def template_text(ctx: WorkerContext, policy: ReplyingPolicy) -> TemplateText:
    """The function giving a saved reply's text for an item, from the policy file."""

    def text(template: ReplyTemplate, item: ReviewItem) -> str:
        sla = ctx.views.sla
        replies = (sla.policy if sla is not None else SlaPolicy()).replies
        if template == "out_of_hours":
            return replies.out_of_hours
        if template == "emergency":
            return replies.emergency
        if template == "warning":
            state = ctx.views.moderation_state
            config = ctx.views.moderation_config or (state.config if state else None)
            if config is None:
                raise PolicyError("the moderation part is not running: no warning template")
            ledgers = ctx.views.ledger
            ledger = ledgers.get(item.comment.author_key) if ledgers is not None else None
            return render("warning", config.messages, item, ledger).text
        value: str = getattr(policy, template)
        return value.strip()

    return text


def register(rt: Runtime, ctx: WorkerContext) -> None:
    """Add the reply desk to ``ctx.views`` and its readers to ``rt.app``."""
    settings = rt.settings
    topics = settings.topics
    policy = load_replying(ctx)

    async def sink(request: ReplyRequest) -> None:
        future = await rt.producer.send(topics.reply_requests, request.id.encode(), encode(request))
        await future

    desk = ReplyDesk(
        enabled=enabled_by(policy, settings.replies_enabled),
        sink=sink,
        texts=template_text(ctx, policy),
        now=rt.clock.now,
        mastodon_max=settings.mastodon_max_characters,
    )
    ctx.views.replies = desk
    dead = ReaderDeadLetters(DeadLetters(rt, agent="replies-view"))

    handlers = {topics.reply_requests: desk.fold_request, topics.reply_outcomes: desk.fold_outcome}

    @stops_worker(rt.fatal, "replies view readers")
    async def replies_feeds() -> None:
        while True:
            follower = TopicFollower(
                settings,
                handlers,
                name="replies-view",
                # No agent of the worker reads these, so nobody else would dead-letter them.
                dead_lettered={topics.reply_requests, topics.reply_outcomes},
                on_invalid=dead,
            )
            try:
                for name in (topics.reply_requests, topics.reply_outcomes):
                    await ensure_topic(
                        settings.kafka,
                        rt.specs[name],
                        settings.partitions,
                        settings.replication_factor,
                    )
                await follower.run()
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("replies view readers stopped; retrying", error=type(exc).__name__)
                await asyncio.sleep(READER_RETRY_S)

    rt.app.task(replies_feeds)
