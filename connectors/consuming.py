"""What the connectors that consume a topic and act on the platforms share: the actions
runner (triage.audit: hides and deletes) and the replies runner (triage.reply-requests).

Both make their topics, a producer (acks from all replicas) and a consumer in a group of
their own that commits by hand, hand each record to ``handle`` in turn, and close their
Kafka and platform clients alike; only the topics, the group, where a new group starts
and the batch size differ.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from connectors.http import MakesPlatformClients, PlatformClient
from records.admin import ensure_topic

__all__ = ["TopicRunner"]

log = structlog.get_logger(__name__)


class TopicRunner(MakesPlatformClients):
    """A consumer of one topic that acts on each record; the connector lifecycle (setup,
    run, stop, cleanup), with ``setup`` and ``handle`` left to the subclass."""

    # The Kafka clients' id, and the most records one read takes.
    client_id: str
    batch: int = 100

    def __init__(self) -> None:
        self._clients: dict[str, PlatformClient] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._stopping = asyncio.Event()

    async def handle(self, message: ConsumerRecord[bytes, bytes]) -> bool:
        """Acts on one record and commits it; False when stopping left it uncommitted."""
        raise NotImplementedError

    async def start_kafka(
        self, ensure: Iterable[str], consume: str, *, group_id: str, auto_offset_reset: str
    ) -> None:
        """Makes the topics in ``ensure`` (with the table's settings), then starts the
        producer and the consumer of ``consume`` in ``group_id``."""
        settings = self.settings
        kafka = settings.kafka
        timeout_s = settings.connector_request_timeout_s
        for topic in ensure:
            await ensure_topic(
                kafka,
                topic,
                settings.partitions,
                settings.replication_factor,
                configs=settings.topic_configs(topic),
                request_timeout_s=timeout_s,
            )
        self._producer = AIOKafkaProducer(
            **kafka.options(),
            acks="all",
            request_timeout_ms=int(timeout_s * 1000),
            client_id=self.client_id,
        )
        await self._producer.start()
        session_ms = int(settings.actions_session_timeout_s * 1000)
        self._consumer = AIOKafkaConsumer(
            consume,
            **kafka.options(),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=session_ms // 5,
            metadata_max_age_ms=30_000,
            client_id=self.client_id,
        )
        await self._consumer.start()

    async def run(self) -> None:
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("setup() has not run")
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=self.batch)
            for messages in batches.values():
                for message in messages:
                    if self._stopping.is_set() or not await self.handle(message):
                        return  # stopping: the record stays uncommitted for the next start

    async def stop(self) -> None:
        self._stopping.set()

    async def cleanup(self) -> None:
        # Each part is closed even when closing an earlier one failed (nothing is lost:
        # an unacknowledged record stays uncommitted for the next start).
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()  # leaves the group, so a restart joins at once
            self._consumer = None
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
        for client in set(self._clients.values()):
            await client.aclose()
        self._clients.clear()

    async def commit(self, message: ConsumerRecord[bytes, bytes], failed: str) -> None:
        """Commits past ``message``; a failed commit (the group rebalancing) is logged
        with ``failed``, what it means for this runner, and whoever reads the partition
        next starts from the last commit."""
        assert self._consumer is not None
        tp = TopicPartition(message.topic, message.partition)
        try:
            await self._consumer.commit({tp: message.offset + 1})
        except KafkaError as exc:
            log.warning(failed, error=str(exc))

    async def wait_stopped(self, within_s: float) -> bool:
        """Whether the runner was told to stop within ``within_s`` seconds."""
        try:
            await asyncio.wait_for(self._stopping.wait(), within_s)
        except TimeoutError:
            return False
        return True
