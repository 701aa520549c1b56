"""The notifier's loop: read ``triage.alerts`` in its own consumer group, send, commit.

Nothing is lost: an alert's offset is committed only once every message it calls for was
sent, or dead-lettered to ``triage.deadletter`` with the reason and the alert's topic,
partition and offset. A transient failure is retried with doubling waits first. An alert
is sent twice only when the process dies between sending and committing (or its
partition moves to another notifier in that moment); the kill test counts it.

``triage notify`` runs :func:`run_notifier` on its own; ``triage run`` starts
:class:`NotifyService` with the worker unless ``--no-notify`` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import mode
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from records import DeadLetter, InvalidRecord, decode, encode
from records.admin import ensure_topic, read_topic
from records.kafka import KafkaConnection
from records.sla import Alert
from records.topics import Topics
from worker.clock import Clock, SystemClock
from worker.metrics import Metrics
from worker.notify.channels import Sender, SendFailed, senders
from worker.notify.compose import Channel, Message, NoRoute, compose
from worker.notify.config import (
    NotificationsPolicy,
    NotifySettings,
    Recipients,
    load_notifications,
    recipients,
)
from worker.notify.digest import digest_alert, digest_day, digest_id
from worker.retention import topic_specs
from worker.runtime import Runtime, stops_worker
from worker.settings import Settings
from worker.sla.policy import load_sla_policy
from worker.sla.worktime import WorkCalendar

__all__ = ["AGENT", "Notifier", "NotifyService", "build_notifier", "run_notifier"]

log = structlog.get_logger(__name__)

AGENT = "notify"


@dataclass
class Notifier:
    """Consumes alerts, sends each one's messages, dead-letters what cannot be sent."""

    kafka: KafkaConnection
    topics: Topics
    group_id: str
    senders: Mapping[Channel, Sender]
    policy: NotificationsPolicy
    recipients: Recipients
    zone: ZoneInfo
    metrics: Metrics
    clock: Clock = field(default_factory=SystemClock)
    app_url: str = ""
    max_attempts: int = 6
    retry_base_s: float = 1.0
    retry_max_s: float = 60.0
    session_timeout_s: float = 10.0
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    # The morning digest: the council's working days (None: no digest), and the open
    # review items by lane where this process has them (None: not counted).
    calendar: WorkCalendar | None = None
    waiting: Callable[[], Mapping[str, int] | None] = lambda: None
    digest_check_s: float = 30.0
    # Called once the consumer has started (``triage notify`` alone reports ready then).
    on_started: Callable[[], None] = lambda: None
    _producer: AIOKafkaProducer | None = field(default=None, init=False)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set; the alert in hand is finished first."""
        self._producer = AIOKafkaProducer(acks="all", **self.kafka.options())
        await self._producer.start()
        try:
            consumer = AIOKafkaConsumer(
                self.topics.alerts,
                group_id=self.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=int(self.session_timeout_s * 1000),
                heartbeat_interval_ms=int(max(1.0, min(3.0, self.session_timeout_s / 4)) * 1000),
                **self.kafka.options(),
            )
            await consumer.start()
            digest = None
            if self.calendar is not None:
                digest = asyncio.ensure_future(self._digest_loop(consumer, stop))
            try:
                log.info("notifier started", channels=list(self.senders), group=self.group_id)
                self.on_started()
                await self._consume(consumer, stop)
            finally:
                if digest is not None:
                    digest.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await digest
                await consumer.stop()
        finally:
            await self._producer.stop()
            for sender in self.senders.values():
                await sender.close()

    async def _consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    if stop.is_set():
                        return  # not committed: read again at the next start
                    await self.handle(record)
                    try:
                        await consumer.commit(
                            {TopicPartition(tp.topic, tp.partition): record.offset + 1}
                        )
                    except CommitFailedError:
                        # The partition moved to another notifier, which reads it from
                        # the last commit: this alert may be sent once more there.
                        log.warning("commit refused after a rebalance", partition=tp.partition)
                        break

    async def _digest_loop(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        # One notifier writes it: the one holding the topic's first partition.
        first = TopicPartition(self.topics.alerts, 0)
        done: date | None = None
        while not stop.is_set():
            assert self.calendar is not None
            day = digest_day(self.clock.now(), self.calendar)
            if day is not None and day != done and first in consumer.assignment():
                try:
                    await self.write_digest(day)
                    done = day
                except (KafkaError, TimeoutError, OSError) as exc:
                    log.warning("digest not written, trying again", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.digest_check_s)

    async def write_digest(self, day: date) -> bool:
        """Write ``day``'s digest to the alerts topic unless it is there; True if written."""
        assert self.calendar is not None
        assert self._producer is not None
        alerts = []
        for record in await read_topic(self.kafka, self.topics.alerts):
            with contextlib.suppress(InvalidRecord):  # the consumer dead-letters those
                alerts.append(decode(record.value, Alert))
        if any(alert.id == digest_id(day) for alert in alerts):
            return False
        digest = digest_alert(day, self.clock.now(), self.calendar, alerts, self.waiting())
        key = digest.id.encode()
        await self._producer.send_and_wait(self.topics.alerts, encode(digest), key=key)
        log.info("digest written", day=day.isoformat())
        return True

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Send what one alert calls for; dead-letter it if any part could not be sent."""
        try:
            alert = decode(record.value, Alert)
            messages = compose(
                alert,
                recipients=self.recipients,
                channels=tuple(self.senders),
                policy=self.policy,
                zone=self.zone,
                app_url=self.app_url,
            )
        except (InvalidRecord, NoRoute) as exc:
            await self._dead_letter(
                record, exc.reason if isinstance(exc, InvalidRecord) else str(exc)
            )
            return
        failures = []
        for message in messages:
            reason = await self.deliver(message)
            if reason is not None:
                failures.append(f"{message.label}: {reason}")
        if failures:
            await self._dead_letter(record, "not sent: " + "; ".join(failures))

    async def deliver(self, message: Message) -> str | None:
        """Send with retries; None once sent, else why it was given up."""
        sender = self.senders[message.channel]
        attempt = 1
        while True:
            try:
                await sender.send(message)
            except SendFailed as exc:
                if exc.permanent or attempt >= self.max_attempts:
                    self.metrics.notifications_failed.labels(channel=message.channel).inc()
                    log.warning(
                        "notification failed",
                        alert_id=message.alert_id,
                        to=message.label,
                        reason=exc.reason,
                        attempts=attempt,
                    )
                    return exc.reason if exc.permanent else f"{exc.reason} after {attempt} tries"
                wait = min(self.retry_max_s, self.retry_base_s * 2 ** (attempt - 1))
                self.metrics.notifications_retried.labels(channel=message.channel).inc()
                log.info("notification retried", to=message.label, reason=exc.reason, wait_s=wait)
                await self.sleep(wait)
                attempt += 1
                continue
            self.metrics.notifications_sent.labels(channel=message.channel).inc()
            log.info("notification sent", alert_id=message.alert_id, to=message.label)
            return None

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        assert self._producer is not None
        letter = DeadLetter.of(
            agent=AGENT,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            error=reason,
            at=self.clock.now(),
        )
        log.warning("record dead-lettered", agent=AGENT, reason=letter.error)
        self.metrics.dead_letters.labels(agent=AGENT).inc()
        await self._producer.send_and_wait(self.topics.deadletter, encode(letter), key=record.key)


def build_notifier(
    settings: Settings,
    notify: NotifySettings,
    metrics: Metrics,
    clock: Clock | None = None,
    waiting: Callable[[], Mapping[str, int] | None] | None = None,
) -> Notifier:
    """A notifier for the configured channels (PolicyError for a bad policy section)."""
    policy = load_notifications(settings.policy)
    working = load_sla_policy(settings.policy).working_time
    return Notifier(
        kafka=settings.kafka,
        topics=settings.topics,
        group_id=f"{settings.app_id}-notify",
        senders=senders(notify),
        policy=policy,
        recipients=recipients(policy, notify),
        zone=working.zone,
        metrics=metrics,
        clock=clock or SystemClock(),
        app_url=notify.notify_app_url,
        max_attempts=notify.notify_max_attempts,
        retry_base_s=notify.notify_retry_base_s,
        retry_max_s=notify.notify_retry_max_s,
        session_timeout_s=settings.session_timeout_s,
        calendar=WorkCalendar(working) if policy.daily_digest else None,
        waiting=waiting or (lambda: None),
    )


async def ensure_topics(settings: Settings) -> None:
    """The alerts and dead-letter topics, created as the topics table says if missing."""
    specs = topic_specs(settings)
    for name in (settings.topics.alerts, settings.topics.deadletter):
        await ensure_topic(
            settings.kafka, specs[name], settings.partitions, settings.replication_factor
        )


async def run_notifier(
    settings: Settings,
    notify: NotifySettings,
    stop: asyncio.Event,
    metrics: Metrics | None = None,
    on_started: Callable[[], None] | None = None,
) -> None:
    """``triage notify``: the notifier alone, until ``stop`` is set."""
    notifier = build_notifier(settings, notify, metrics or Metrics())
    if on_started is not None:
        notifier.on_started = on_started
    await ensure_topics(settings)
    await notifier.run(stop)


class NotifyService(mode.Service):  # type: ignore[misc]
    """The notifier inside ``triage run``, started and stopped with the App; it does
    nothing when no channel is configured. An error in it stops the worker."""

    def __init__(
        self, rt: Runtime, notify: NotifySettings, views: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.rt = rt
        self.notify = notify
        self.views = views
        # Built now, so that a bad notifications section stops the start with its message.
        self.notifier = build_notifier(rt.settings, notify, rt.metrics, rt.clock, self._waiting)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _waiting(self) -> dict[str, int] | None:
        # ctx.views.review (worker/moderation/review_view.py), once moderation runs.
        review = getattr(self.views, "review", None)
        if review is None:
            return None
        counts: dict[str, int] = {}
        for item in review.items(status="open"):
            counts[item.lane] = counts.get(item.lane, 0) + 1
        return counts

    async def on_start(self) -> None:
        if not self.notifier.senders:
            log.info("notifier off: no mail server or chat webhook is configured")
            return
        try:
            await ensure_topics(self.rt.settings)
        except KafkaError as exc:
            raise RuntimeError(f"notifier: could not create its topics ({exc})") from exc
        run = stops_worker(self.rt.fatal, AGENT)(self.notifier.run)
        self._task = asyncio.ensure_future(run(self._stop))

    async def on_stop(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._task, timeout=30)
        self._task = None
