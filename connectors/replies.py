"""Posting the replies officers send from the tool (part of ``triage connect actions``).

It reads ``triage.reply-requests`` in a consumer group of its own and, for each request
that may be sent (approved, where the written warning needs it), asks the platform to
post it, then writes what happened to ``triage.reply-outcomes`` (its one writer) and
commits. It runs only when the policy's ``replying.enabled`` is true, or
``TRIAGE_REPLIES_ENABLED=true`` says so.

One reply per click, even across restarts: the outcomes topic is read whole at start, and
a ``sending`` outcome is written, and acknowledged by the broker, before the platform is
asked. A request whose reply id already has an outcome is not sent again; one whose last
outcome is ``sending`` (the connector stopped while asking) is recorded as failed, since
the platform may or may not have posted it and posting again could post it twice. A
timeout or a 5xx is not retried for the same reason (Mastodon also gets the reply id as
its ``Idempotency-Key``); the officer sees the failure on the item page and can send again.

A sent reply is also written to ``social.comments`` as the council's own post in the
thread (the connectors write that topic), so the reply clock closes the case the way it
does when a connector sees the council reply on the platform; the platform's id makes
the two the same comment.

What each platform is asked: connectors/reply_posts.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError

from connectors.consuming import TopicRunner
from connectors.http import (
    PlatformClient,
    PlatformRefused,
    PlatformUnavailable,
    Sleep,
)
from connectors.metrics import ConnectorMetrics
from connectors.reply_posts import CONNECTOR_FOR, Refused, check_request, post_reply, why
from connectors.settings import ConnectorSettings, ConnectorSettingsError
from records import Author, Comment, DeadLetter, InvalidRecord, decode, encode
from records.admin import read_topic
from records.policy import PolicyError
from records.reply import (
    ReplyOutcome,
    ReplyRequest,
    ReplyStatus,
    load_replying_policy,
    replies_enabled,
    warning_decision,
)

__all__ = [
    "AGENT",
    "RepliesDisabled",
    "ReplyRunner",
    "RunTogether",
    "replies_disabled_message",
    "replying_enabled",
]

log = structlog.get_logger(__name__)

AGENT = "replies"


class RepliesDisabled(ConnectorSettingsError):
    """Neither the policy nor TRIAGE_REPLIES_ENABLED turns replying on."""


def replying_enabled(settings: ConnectorSettings) -> bool:
    try:
        policy = load_replying_policy(settings.policy)
    except PolicyError as exc:
        raise ConnectorSettingsError(f"{exc} (TRIAGE_POLICY)") from None
    return replies_enabled(policy, settings.replies_enabled)


def replies_disabled_message(settings: ConnectorSettings) -> str:
    return (
        "replying from the tool is off: set replying.enabled: true in the policy file "
        f"({settings.policy}, TRIAGE_POLICY) or TRIAGE_REPLIES_ENABLED=true"
    )


class ReplyRunner(TopicRunner):
    """Consumes reply requests and posts them; same lifecycle as a connector."""

    name = "replies"
    client_id = "triage-connector-replies"
    batch = 50

    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], float] = time.time,
        metrics: ConnectorMetrics | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.transport = transport
        self.sleep = sleep
        self.now = now
        self.metrics = metrics or ConnectorMetrics("actions")
        self.group_id = f"{settings.topic_prefix}triage-connector-replies"
        # The latest outcome's status of every reply id (read whole at start), and the
        # platform's id of each reply sent.
        self.outcomes: dict[str, str] = {}
        self.posted: dict[str, str] = {}
        self.sent = 0
        self.failed = 0

    def platform_client(self, base_url: str, token: Any) -> PlatformClient:
        # No retries of timeouts or 5xx: the post may have been made (see the module doc).
        return PlatformClient(
            base_url,
            token,
            self.metrics,
            transport=self.transport,
            timeout_s=self.settings.connector_request_timeout_s,
            max_retries=0,
            sleep=self.sleep,
            now=self.now,
        )

    # Lifecycle.
    async def setup(self) -> None:
        settings = self.settings
        if not replying_enabled(settings):
            raise RepliesDisabled(replies_disabled_message(settings))
        if settings.meta_page_access_token is not None:
            meta = self.platform_client(settings.meta_graph_base, settings.meta_page_access_token)
            self._clients["facebook"] = self._clients["instagram"] = meta
        if settings.x_user_access_token is not None:
            self._clients["x"] = self.platform_client(
                settings.x_api_base, settings.x_user_access_token
            )
        if settings.mastodon_token is not None and settings.mastodon_base_url:
            self._clients["mastodon"] = self.platform_client(
                settings.mastodon_base_url, settings.mastodon_token
            )
        if not self._clients:
            raise ConnectorSettingsError(
                "missing settings: TRIAGE_META_PAGE_ACCESS_TOKEN, TRIAGE_X_USER_ACCESS_TOKEN "
                "or TRIAGE_MASTODON_TOKEN with TRIAGE_MASTODON_BASE_URL (a platform to reply on)"
            )
        topics = settings.topics
        kafka = settings.kafka
        await self.start_kafka(
            (topics.reply_requests, topics.reply_outcomes, topics.comments, topics.deadletter),
            topics.reply_requests,
            group_id=self.group_id,
            # Every request is one an officer made while replying was on: none is skipped.
            auto_offset_reset="earliest",
        )
        # Read after joining, before handling anything: every outcome written so far.
        for record in await read_topic(kafka, topics.reply_outcomes):
            try:
                outcome = decode(record.value, ReplyOutcome)
            except InvalidRecord:
                continue  # the worker's view dead-letters what it cannot read
            old = self.outcomes.get(outcome.reply_id)
            if old is None or old == "sending":
                self.outcomes[outcome.reply_id] = outcome.status
            if outcome.posted_id is not None:
                self.posted[outcome.reply_id] = outcome.posted_id

    @property
    def platforms(self) -> list[str]:
        return sorted(self._clients)

    # One request.
    async def handle(self, message: ConsumerRecord[bytes, bytes]) -> bool:
        """Send one request at most once, then commit; False when stopping left it."""
        try:
            request = decode(message.value, ReplyRequest)
        except InvalidRecord as exc:
            done = await self._dead_letter(message, f"invalid reply request: {exc.reason}")
        else:
            done = await self._handle(request)
        if done:
            await self._commit(message)
        return done

    async def _handle(self, request: ReplyRequest) -> bool:
        if not request.ready:
            return True  # its approval comes as a record of its own
        status = self.outcomes.get(request.id)
        if status == "sent":
            # Written again in case the last run stopped before it: the same comment id.
            return await self._after_sent(request, self.posted.get(request.id))
        if status == "sending":
            reason = (
                "interrupted while the platform was asked: check the post on the platform "
                "before sending again"
            )
            return await self._failed(request, reason)
        if status is not None:
            return True  # failed already: the officer sends again, with a new reply id
        return await self._send(request)

    async def _send(self, request: ReplyRequest) -> bool:
        client = self._clients.get(request.platform)
        problem = check_request(request)
        if problem is None and client is None:
            problem = f"no token for {request.platform}: this connector cannot reply there"
        if problem is not None:
            return await self._failed(request, problem)
        assert client is not None
        if not await self._outcome(request, "sending"):
            return False
        try:
            posted = await post_reply(client, request, self._own_ids())
        except (Refused, PlatformRefused, PlatformUnavailable) as exc:
            return await self._failed(request, why(exc, request.platform))
        self.sent += 1
        self.metrics.reply(request.platform, "sent")
        if not await self._outcome(request, "sent", posted_id=posted.id):
            return False
        log.info("reply sent", reply_id=request.id, platform=request.platform)
        return await self._after_sent(request, posted.id)

    async def _after_sent(self, request: ReplyRequest, posted_id: str | None) -> bool:
        """The sent reply as the council's post in the thread (it closes the reply case)
        and, for a written warning, the "warn" decision the author's ledger counts."""
        key, value = self._council_post(request, posted_id)
        if not await self._write(self.settings.topics.comments, key, value):
            return False
        decision = warning_decision(request, datetime.fromtimestamp(self.now(), UTC))
        if decision is None:
            return True
        # Keyed by item id, as the moderation agent reads decisions.
        topic = self.settings.topics.decisions
        return await self._write(topic, decision.item_id.encode(), encode(decision))

    async def _failed(self, request: ReplyRequest, reason: str) -> bool:
        self.failed += 1
        self.metrics.reply(
            request.platform if request.platform in CONNECTOR_FOR else "other", "failed"
        )
        log.warning("reply not sent", reply_id=request.id, reason=reason)
        return await self._outcome(request, "failed", reason=reason)

    def _own_ids(self) -> dict[str, str]:
        s = self.settings
        return {"facebook": s.meta_page_id, "instagram": s.meta_ig_user_id}

    def _council_id(self, platform: str) -> str:
        s = self.settings
        ids = {
            "facebook": s.meta_page_id,
            "instagram": s.meta_ig_user_id,
            "x": s.x_user_id,
            "mastodon": s.mastodon_account_id,
        }
        return ids.get(platform) or "council"

    def _council_post(
        self, request: ReplyRequest, posted_id: str | None = None
    ) -> tuple[bytes, bytes]:
        """The sent reply as the council's own comment in the thread."""
        at = datetime.fromtimestamp(self.now(), UTC)
        comment = Comment(
            id=posted_id or f"reply-{request.id}",
            platform=request.platform,
            channel=request.channel,
            kind="direct_message" if request.private else "reply",
            thread_id=request.thread_id,
            in_reply_to=request.native_id,
            author=Author(id=self._council_id(request.platform), is_council=True),
            text=request.text,
            created_at=at,
            received_at=at,
            connector=CONNECTOR_FOR.get(request.platform),
        )
        return comment.conversation_key.encode(), encode(comment)

    # Kafka.
    async def _outcome(
        self,
        request: ReplyRequest,
        status: ReplyStatus,
        *,
        posted_id: str | None = None,
        reason: str = "",
    ) -> bool:
        outcome = ReplyOutcome(
            reply_id=request.id,
            item_id=request.item_id,
            comment_key=request.comment_key,
            platform=request.platform,
            status=status,
            posted_id=posted_id,
            reason=reason[:1000],
            text=request.text,
            private=request.private,
            requested_by=request.requested_by,
            approved_by=request.approved_by,
            at=datetime.fromtimestamp(self.now(), UTC),
        )
        if not await self._write(
            self.settings.topics.reply_outcomes, request.id.encode(), encode(outcome)
        ):
            return False
        self.outcomes[request.id] = status
        if posted_id is not None:
            self.posted[request.id] = posted_id
        return True

    async def _write(self, topic: str, key: bytes, value: bytes) -> bool:
        """Write and wait for the broker (retried); False when stopping first."""
        assert self._producer is not None
        while True:
            try:
                await self._producer.send_and_wait(topic, value, key=key)
                return True
            except KafkaError as exc:
                log.warning("cannot write; will retry", topic=topic, error=type(exc).__name__)
                if await self.wait_stopped(min(self.settings.actions_retry_interval_s, 5.0)):
                    return False

    async def _commit(self, message: ConsumerRecord[bytes, bytes]) -> None:
        # Handled again by whoever reads the partition next: the outcome stops a resend.
        await self.commit(message, "commit failed; the request will be read again")

    async def _dead_letter(self, message: ConsumerRecord[bytes, bytes], reason: str) -> bool:
        letter = DeadLetter.of(
            agent=AGENT,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            error=reason,
            at=datetime.fromtimestamp(self.now(), UTC),
        )
        log.warning("reply request dead-lettered", reason=letter.error)
        topic = self.settings.topics.deadletter
        return await self._write(topic, message.key or b"", encode(letter))


class RunTogether:
    """Runners with the connector lifecycle run as one: the actions and the replies of
    ``triage connect actions``. Stopping one stops all."""

    def __init__(self, *runners: Any) -> None:
        self.runners = runners
        self.name = "+".join(r.name for r in runners)

    @property
    def url(self) -> str:
        url: str = self.runners[0].url
        return url

    async def setup(self) -> None:
        for runner in self.runners:
            await runner.setup()

    async def run(self) -> None:
        tasks = [asyncio.ensure_future(r.run()) for r in self.runners]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # a runner's failure ends the command with it

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.stop()

    async def cleanup(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
