"""Following whole topics, from their start, in every worker process.

The officers' views (review queue, ledger, audit trail, reply cases, emergency switches)
must be the same in every worker, whichever partitions it owns, so each is fed by a plain
consumer with no group, assigned every partition of its topics. :class:`TopicFollower`
is that consumer: the moderation view and the SLA view each run one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from records import InvalidRecord
from worker.settings import Settings

__all__ = ["Handler", "OnCrash", "OnInvalid", "TopicFollower"]

log = structlog.get_logger(__name__)

Handler = Callable[[bytes | None], None]
"""Folds one record's value in; raises InvalidRecord for one it cannot read."""
OnInvalid = Callable[[Any, str], Awaitable[None]]
"""Called with a record the follower could not read and why (to dead-letter it)."""
OnCrash = Callable[[BaseException], None]


class TopicFollower:
    """Calls each topic's handler for every record, from the start, for ever.

    A record a handler refuses with InvalidRecord is skipped; those of the topics in
    ``dead_lettered`` (the ones no agent reads, so nobody else would dead-letter them) go
    to ``on_invalid``. A broker error is retried (aiokafka reconnects by itself). Any other
    failure ends the follower and goes to ``on_crash`` (the worker's fatal flag), or out of
    :meth:`run`: a view that stopped reading would go on answering officers with stale data.
    """

    def __init__(
        self,
        settings: Settings,
        handlers: Mapping[str, Handler],
        *,
        name: str,
        dead_lettered: Collection[str] = (),
        on_invalid: OnInvalid | None = None,
        on_crash: OnCrash | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self._handlers = dict(handlers)
        self._dead_lettered = set(dead_lettered)
        self._on_invalid = on_invalid
        self._on_crash = on_crash
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self._targets: dict[TopicPartition, int] = {}
        # The next offset to read of each partition (everything before it is folded in).
        self._positions: dict[TopicPartition, int] = {}
        self.skipped = 0

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **self.settings.kafka.options(),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"{self.settings.app_id}-{self.name}",
        )

    async def start(self) -> None:
        self._consumer = self._new_consumer()
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name=self.name)
        self._task.add_done_callback(self._ended)

    async def run(self) -> None:
        """Start, and follow until cancelled; a failure is raised here."""
        await self.start()
        assert self._task is not None
        try:
            await asyncio.shield(self._task)
        finally:
            await self.stop()

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and self._on_crash is not None:
            self._on_crash(error)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # Its crash, if any, already went to on_crash or run(): stopping only waits.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def wait_caught_up(self) -> None:
        """Until everything on the topics when the follower started has been read."""
        await self._caught_up.wait()

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    async def end_offset(self, topic: str, partition: int) -> int | None:
        """The partition's end offset now (None when the broker cannot say)."""
        consumer = self._consumer
        if consumer is None:
            return None
        tp = TopicPartition(topic, partition)
        try:
            ends = await consumer.end_offsets([tp])
        except KafkaError as exc:
            log.warning("follower cannot read an end offset", follower=self.name, error=str(exc))
            return None
        end: int | None = ends.get(tp)
        return end

    def position(self, topic: str, partition: int) -> int:
        """How far the handlers have the partition: every record before this offset."""
        return self._positions.get(TopicPartition(topic, partition), 0)

    async def _assign(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while True:
            # topics() refreshes metadata: the worker may still be creating them.
            try:
                existing = await consumer.topics()
            except KafkaError as exc:
                log.warning(
                    "follower cannot list topics; retrying", follower=self.name, error=str(exc)
                )
                await asyncio.sleep(1.0)
                continue
            if all(t in existing for t in self._handlers):
                if all(consumer.partitions_for_topic(t) for t in self._handlers):
                    parts = [
                        TopicPartition(topic, p)
                        for topic in self._handlers
                        for p in sorted(consumer.partitions_for_topic(topic) or ())
                    ]
                    break
                # This consumer's metadata predates a topic (listing topics does not
                # update it), and a topic assigned without partitions is never read.
                await consumer.stop()
                consumer = self._consumer = self._new_consumer()
                await consumer.start()
            await asyncio.sleep(0.5)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        self._targets = {tp: end for tp, end in ends.items() if end > 0}
        self._check_caught_up()

    def _check_caught_up(self, tp: TopicPartition | None = None, offset: int = -1) -> None:
        if self._caught_up.is_set():
            return
        if tp is not None and offset + 1 >= self._targets.get(tp, 0):
            self._targets.pop(tp, None)
        if not self._targets:
            self._caught_up.set()
            log.info("follower caught up", follower=self.name)
            self.on_caught_up()

    def on_caught_up(self) -> None:
        """Called once, when everything on the topics at the start has been read."""

    async def _run(self) -> None:
        await self._assign()
        consumer = self._consumer
        assert consumer is not None
        while True:
            try:
                batch = await consumer.getmany(timeout_ms=500, max_records=1000)
            except KafkaError as exc:
                # aiokafka reconnects by itself; keep reading rather than go stale.
                log.warning("follower read failed; retrying", follower=self.name, error=str(exc))
                await asyncio.sleep(1.0)
                continue
            for tp, messages in batch.items():
                handler = self._handlers[tp.topic]
                for message in messages:
                    await self._apply(handler, message)
                    self._positions[tp] = message.offset + 1
                if messages:
                    self._check_caught_up(tp, messages[-1].offset)

    async def _apply(self, handler: Handler, message: Any) -> None:
        try:
            handler(message.value)
        except InvalidRecord as exc:
            self.skipped += 1
            log.warning(
                "follower skipped a record",
                follower=self.name,
                reason=exc.reason,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
            )
            if message.topic in self._dead_lettered and self._on_invalid is not None:
                await self._on_invalid(message, exc.reason)
