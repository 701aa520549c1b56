"""Polling connectors: fetch what is new since the cursor, write it, then move the cursor.

The cursor moves only after Kafka has confirmed every comment of the poll, so a crash or a
broker outage never leaves a gap; delivered keys are remembered in the state file, so the
next poll (or a restarted process) never writes a comment twice.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from connectors.base import Connector
from connectors.http import MakesPlatformClients, PlatformClient, PlatformUnavailable, Sleep
from connectors.ops import OpsServer
from connectors.settings import ConnectorSettings
from connectors.sink import Outgoing

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Batch:
    """One poll's result: comments oldest first, and the cursors to store once written."""

    items: list[Outgoing] = field(default_factory=list)
    # None removes a cursor.
    cursors: dict[str, str | None] = field(default_factory=dict)
    threads: dict[str, str] = field(default_factory=dict)


class PollingConnector(MakesPlatformClients, Connector):
    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], float] = time.time,
        port: int | None = None,
    ) -> None:
        super().__init__(settings, now=now)
        self.transport = transport
        self.sleep = sleep
        self.port = port  # None: no /health and /metrics server
        self.last_poll_ok = True
        self._client: PlatformClient | None = None
        self._server: OpsServer | None = None

    @property
    def client(self) -> PlatformClient:
        if self._client is None:
            raise RuntimeError("setup() has not run")
        return self._client

    @abstractmethod
    def make_client(self) -> PlatformClient:
        """The platform's client, with its base URL and token."""

    @abstractmethod
    async def fetch(self) -> Batch:
        """Everything new since the stored cursors, oldest first."""

    async def setup(self) -> None:
        await super().setup()
        self._client = self.make_client()
        if self.port is not None:
            self._server = OpsServer(
                self.settings.connector_host, self.port, self.metrics, self.health
            )
            await self._server.start()
            self.port = self._server.port

    async def cleanup(self) -> None:
        try:
            if self._server is not None:
                await self._server.stop()
            await super().cleanup()
        finally:
            if self._client is not None:
                await self._client.aclose()

    @property
    def url(self) -> str:
        return f"http://{self.settings.connector_host}:{self.port}"

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Unhealthy while the platform keeps failing (after all retries)."""
        return self.last_poll_ok, {
            "connector": self.name,
            "status": "ok" if self.last_poll_ok and self.sink.connected else "degraded",
            "kafka_connected": self.sink.connected,
            "buffered": self.sink.size,
            "last_success": self.metrics.value("connector_last_success_timestamp_seconds"),
        }

    async def poll_once(self) -> int:
        """One poll: fetch, write, wait for Kafka, then store cursors. Returns comments written."""
        batch = await self.fetch()
        items = self.fresh(batch.items)
        await self.sink.put(items)
        if items:
            self.metrics.event("accepted", len(items))
        while not await self.sink.flush(within_s=1.0):
            self.sink.check()
            if self.stopping:
                return 0  # cursors stay put: the next start fetches these again
        for table_key, thread in batch.threads.items():
            self.state.remember("threads", table_key, thread)
        for name, value in batch.cursors.items():
            if value is None:
                self.state.clear_cursor(name)
            else:
                self.state.set_cursor(name, value)
        self.state.save()
        return len(items)

    async def run(self) -> None:
        interval = self.settings.connector_poll_interval_s
        while not self.stopping:
            try:
                written = await self.poll_once()
                self.last_poll_ok = True
                log.info("poll done", connector=self.name, written=written)
            except PlatformUnavailable as exc:
                self.last_poll_ok = False
                log.warning("platform unavailable; will poll again", error=str(exc))
            if await self.wait_stopped(interval):
                break


def id_order(value: str) -> tuple[int, str]:
    """Sort key for numeric string ids (snowflakes) without trusting them to be numeric."""
    return (len(value), value)
