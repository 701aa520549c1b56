"""The lifecycle every connector shares: setup, run, stop, cleanup.

``setup`` opens what the connector needs (state, the Kafka sink, servers or clients);
``run`` works until ``stop`` is called; ``cleanup`` flushes and closes, and runs even when
``run`` failed. :func:`serve` drives the four in order.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import structlog

from connectors.metrics import ConnectorMetrics
from connectors.settings import ConnectorSettings
from connectors.sink import KafkaSink, Outgoing
from connectors.spool import Spool
from connectors.state import ConnectorState

log = structlog.get_logger(__name__)


class Connector(ABC):
    """A source of Comments. Subclasses set ``name`` and implement ``run``."""

    name: str = "connector"
    # Webhooks spool what they accept to disk before answering; pollers can fetch again.
    spooled: bool = False

    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.now = now
        self.metrics = ConnectorMetrics(self.name)
        self.state = ConnectorState(self.state_path, settings.connector_seen_keys)
        self.sink = KafkaSink(
            settings.kafka,
            settings.topics.comments,
            self.metrics,
            partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            capacity=settings.connector_buffer,
            request_timeout_s=settings.connector_request_timeout_s,
            on_delivered=self._delivered,
            spool=Spool(self.spool_path) if self.spooled else None,
        )
        self._stopping = asyncio.Event()

    @property
    def state_path(self) -> Path:
        return self.settings.state_dir / f"{self.name}.json"

    @property
    def spool_path(self) -> Path:
        return self.settings.spool_dir / self.name

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def setup(self) -> None:
        self.state = ConnectorState.load(self.state_path, self.settings.connector_seen_keys)
        self.sink.topic_configs = self.settings.topic_configs(self.sink.topic)
        await self.sink.start(delivered=self.state.seen)

    @abstractmethod
    async def run(self) -> None:
        """Work until :meth:`stop` is called."""

    async def stop(self) -> None:
        self._stopping.set()

    async def cleanup(self) -> None:
        await self.sink.stop()
        self.state.save()

    async def wait_stopped(self, within_s: float | None = None) -> bool:
        """Sleep until stop() or ``within_s`` seconds; True when stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), within_s)
        except TimeoutError:
            return False
        return True

    def fresh(self, items: list[Outgoing]) -> list[Outgoing]:
        """Drop what was delivered before (state) or is on its way (sink), and repeats;
        stamp the rest with this connector's name (Comment.connector)."""
        out: list[Outgoing] = []
        keys: set[str] = set()
        for item in items:
            key = item.dedup_key
            if key in keys or self.state.seen(key) or self.sink.is_pending(key):
                continue
            keys.add(key)
            stamped = item.comment.model_copy(update={"connector": self.name})
            out.append(Outgoing(stamped, key))
        duplicates = len(items) - len(out)
        if duplicates:
            self.metrics.event("duplicate", duplicates)
        return out

    def _delivered(self, items: list[Outgoing]) -> None:
        self.state.mark_seen([item.dedup_key for item in items])
        self.state.save()


async def serve(connector: Connector, on_ready: Callable[[], None] | None = None) -> None:
    """setup, run until stopped, then cleanup (always); ``on_ready`` is called after setup."""
    try:
        await connector.setup()
        log.info("connector running", connector=connector.name)
        if on_ready is not None:
            on_ready()
        await connector.run()
    finally:
        await connector.cleanup()
        log.info("connector stopped", connector=connector.name)
