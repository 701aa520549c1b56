"""The Kafka sink: a bounded buffer in front of an aiokafka producer.

Comments are keyed by conversation, so a query and the council's reply share a partition.
One sender task writes the buffer head to Kafka in order and removes only what the broker
confirmed (acks=all); while Kafka is unreachable the buffer holds what was accepted and the
sender retries with backoff. The producer is idempotent where the broker supports it (the
embedded broker does not: then it runs without, and a batch that timed out and is resent
may be written twice; consumers dedupe by comment key).

With a spool (webhook connectors) what the buffer takes is first written to local disk and
fsynced, so that it outlives the process; pollers need none, their cursor moves only once
Kafka has confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
)

from connectors.metrics import ConnectorMetrics
from records import Comment, encode
from records.admin import ensure_topic
from records.kafka import KafkaConnection

if TYPE_CHECKING:
    from connectors.spool import Spool

log = structlog.get_logger(__name__)

MAX_BATCH = 500
STOP_WAIT_S = 10.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A comment on its way to Kafka, with the key that says it was already delivered."""

    comment: Comment
    dedup_key: str


def _collect(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


class _QuietInitPid(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "InitProducerId" not in record.getMessage()


class SinkClosed(RuntimeError):
    """The sink is stopping and takes nothing more."""


class KafkaSink:
    def __init__(
        self,
        kafka: KafkaConnection,
        topic: str,
        metrics: ConnectorMetrics,
        *,
        partitions: int = 4,
        replication_factor: int = 1,
        capacity: int = 10_000,
        request_timeout_s: float = 30.0,
        on_delivered: Callable[[list[Outgoing]], None] | None = None,
        max_backoff_s: float = 10.0,
        spool: Spool | None = None,
    ) -> None:
        self.kafka = kafka
        self.topic = topic
        self.metrics = metrics
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.capacity = capacity
        metrics.capacity(capacity)
        self.request_timeout_s = request_timeout_s
        self.on_delivered = on_delivered
        self.max_backoff_s = max_backoff_s
        # What the topic is created with, if it does not exist (records/topics.py).
        self.topic_configs: Mapping[str, str] = {}
        self.spool = spool
        self._offering = asyncio.Lock()  # spool order == buffer order
        self._pending: deque[Outgoing] = deque()
        self._pending_keys: set[str] = set()
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._space = asyncio.Event()
        self._space.set()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self._closing = False
        self.connected = False
        self.idempotent: bool | None = None

    # Accepting work.
    @property
    def size(self) -> int:
        return len(self._pending)

    def is_pending(self, dedup_key: str) -> bool:
        return dedup_key in self._pending_keys

    async def offer(self, items: Iterable[Outgoing]) -> bool:
        """Take all of ``items`` or none (False: over capacity, ask the sender to retry).

        With a spool it returns once they are fsynced; OSError when the disk refused them.
        """
        if self._closing:
            raise SinkClosed("the sink is stopping")
        async with self._offering:
            batch = [item for item in items if item.dedup_key not in self._pending_keys]
            if len(self._pending) + len(batch) > self.capacity:
                return False
            if self.spool is not None and batch:
                await asyncio.to_thread(self.spool.append, batch)
            self._append(batch)
        return True

    async def put(self, items: Iterable[Outgoing]) -> None:
        """Take ``items`` in order, waiting for room as needed (pollers)."""
        for item in items:
            while not await self.offer([item]):
                self._space.clear()
                await self._space.wait()

    async def flush(self, within_s: float | None = None) -> bool:
        """Wait until everything accepted so far is confirmed; False on timeout."""
        try:
            await asyncio.wait_for(self._drained.wait(), within_s)
        except TimeoutError:
            return False
        return True

    def _append(self, batch: list[Outgoing]) -> None:
        if not batch:
            return
        for item in batch:
            self._pending.append(item)
            self._pending_keys.add(item.dedup_key)
        self._drained.clear()
        self._wakeup.set()
        self.metrics.buffered(len(self._pending))

    # Lifecycle.
    async def start(self, delivered: Callable[[str], bool] = lambda _key: False) -> None:
        """Replay the spool (less what was ``delivered``), then start the sender."""
        if self.spool is not None:
            self._append(await asyncio.to_thread(self.spool.recover, delivered))
        self._task = asyncio.create_task(self._run(), name=f"sink:{self.topic}")

    def check(self) -> None:
        """Raise what ended the sender task, if it ended: a bug must not stall silently."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            error = self._task.exception()
            raise SinkClosed("the Kafka sender stopped unexpectedly") from error

    async def stop(self, flush_timeout: float = 10.0) -> None:
        self._closing = True
        if not await self.flush(flush_timeout):
            if self.spool is not None:
                log.warning("stopping with comments spooled for the next start", unsent=self.size)
            else:
                log.error("stopping with comments not yet written to Kafka", unsent=self.size)
        if self._task is not None:
            self._task.cancel()
            # Bounded: a cancellation that lands inside the Kafka client's own start-up can
            # be swallowed there, and the sender then ends at its next loop (closing).
            self._wakeup.set()
            done, _ = await asyncio.wait({self._task}, timeout=STOP_WAIT_S)
            if not done:
                log.error("the Kafka sender did not stop in time", seconds=STOP_WAIT_S)
        if self._producer is not None:
            # The flush above has said what is unsent; a failing stop changes nothing.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), 10)
            self._producer = None

    async def _run(self) -> None:
        attempt = 0
        while not self._closing or self._pending:
            if self._producer is None:
                try:
                    await self._connect()
                    attempt = 0
                except (KafkaError, OSError) as exc:
                    attempt += 1
                    log.warning("kafka unreachable; will retry", error=type(exc).__name__)
                    await self._backoff(attempt)
                    continue
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            sent = await self._send_head()
            if self.spool is not None:
                await asyncio.to_thread(self.spool.release)
            if sent:
                attempt = 0
            else:
                attempt += 1
                await self._backoff(attempt)

    async def _send_head(self) -> bool:
        """Write up to MAX_BATCH from the head, in order; True when all were confirmed."""
        assert self._producer is not None
        batch = [self._pending[i] for i in range(min(MAX_BATCH, len(self._pending)))]
        confirmed = 0
        futures: list[asyncio.Future[object]] = []
        try:
            for item in batch:
                futures.append(
                    await self._producer.send(
                        self.topic,
                        encode(item.comment),
                        key=item.comment.conversation_key.encode("utf-8"),
                    )
                )
            for future in futures:
                await future
                confirmed += 1
        except (KafkaError, OSError, TimeoutError) as exc:
            self.metrics.produce_error()
            log.warning(
                "kafka write failed; will retry",
                error=type(exc).__name__,
                confirmed=confirmed,
                batch=len(batch),
            )
            # Everything from the first failure is sent again, to keep each conversation in
            # order; the later outcomes are only collected so that none goes unretrieved.
            for future in futures[confirmed:]:
                future.add_done_callback(_collect)
        self._confirm(batch[:confirmed])
        return confirmed == len(batch)

    def _confirm(self, done: list[Outgoing]) -> None:
        if not done:
            return
        for item in done:
            self._pending.popleft()
            self._pending_keys.discard(item.dedup_key)
        if self.on_delivered is not None:
            self.on_delivered(done)  # the state file first: a spooled line then reads as sent
        if self.spool is not None:
            self.spool.confirmed(len(done))
        self.metrics.produced(len(done))
        self.metrics.buffered(len(self._pending))
        self._space.set()
        if not self._pending:
            self._drained.set()

    async def _backoff(self, attempt: int) -> None:
        # Full jitter keeps many connectors from hammering a recovering broker in step.
        await asyncio.sleep(random.uniform(0, min(self.max_backoff_s, 0.2 * 2**attempt)))  # noqa: S311

    async def _connect(self) -> None:
        await self._ensure_topic()
        producer = await self._start_producer(idempotent=self.idempotent is not False)
        self._producer = producer
        self.connected = True
        log.info("kafka sink connected", topic=self.topic, idempotent=self.idempotent)

    async def _start_producer(self, idempotent: bool) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            **self.kafka.options(),
            acks="all",
            enable_idempotence=idempotent,
            request_timeout_ms=int(self.request_timeout_s * 1000),
            linger_ms=5,
            client_id="triage-connector",
        )
        quiet = _QuietInitPid()
        sender_log = logging.getLogger("aiokafka.producer.sender")
        sender_log.addFilter(quiet)  # our warning below says it better than aiokafka's error
        try:
            await producer.start()
        except (KafkaConnectionError, KafkaTimeoutError, OSError):
            with contextlib.suppress(Exception):  # the start error is the one to raise
                await producer.stop()
            raise
        except KafkaError as exc:
            with contextlib.suppress(Exception):  # the start error decides what follows
                await producer.stop()
            if not idempotent:
                raise
            # The broker refused InitProducerId: run without idempotence.
            log.warning("broker has no idempotent producer; continuing without", error=str(exc))
            self.idempotent = False
            return await self._start_producer(idempotent=False)
        finally:
            sender_log.removeFilter(quiet)
        self.idempotent = idempotent
        return producer

    async def _ensure_topic(self) -> None:
        await ensure_topic(
            self.kafka,
            self.topic,
            self.partitions,
            self.replication_factor,
            configs=self.topic_configs,
            request_timeout_s=self.request_timeout_s,
        )
