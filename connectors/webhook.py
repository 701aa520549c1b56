"""Webhook connectors: an aiohttp server that checks, maps, spools and answers.

A platform's POST is answered 200 once its comments are in the spool on local disk
(fsynced) and in the sink's buffer; the sink writes them to Kafka in the background and the
spool forgets them once Kafka has confirmed. A connector killed meanwhile replays the spool
when it starts again, so an event answered 200 is never dropped, even when Kafka was down.
When the buffer is full (Kafka unreachable for a while) or the disk refuses the write, the
answer is 503, so that the platform keeps the event and sends it again. Every server also
has ``/health`` and ``/metrics``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from connectors.base import Connector
from connectors.metrics import RejectReason
from connectors.ops import OpsServer
from connectors.settings import ConnectorSettings
from connectors.sink import Outgoing

log = structlog.get_logger(__name__)


class Refused(Exception):
    """A request turned away: HTTP status, metric reason, and a short public message."""

    def __init__(self, status: int, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def hmac_sha256_hex(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signature_matches(header: str | None, secret: bytes, message: bytes) -> bool:
    """``sha256=<hex>`` against the HMAC of ``message``, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac_sha256_hex(secret, message)
    return hmac.compare_digest(header.strip().encode("ascii", "replace"), expected.encode())


def parse_json(body: bytes) -> Any:
    # ValueError also covers a number past Python's int-conversion limit.
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "malformed", "the body is not JSON") from None


class WebhookConnector(Connector):
    """Subclasses add their routes in :meth:`add_routes` and call :meth:`accept`."""

    spooled = True

    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        host: str | None = None,
        port: int | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, now=now)
        self.host = host or settings.connector_host
        self.port = settings.connector_port if port is None else port
        self._server: OpsServer | None = None

    @abstractmethod
    def add_routes(self, app: web.Application) -> None:
        """Register the platform's endpoints."""

    async def setup(self) -> None:
        await super().setup()
        self._server = OpsServer(
            self.host,
            self.port,
            self.metrics,
            self.health,
            add_routes=self.add_routes,
            max_body_bytes=self.settings.connector_max_body_bytes,
        )
        await self._server.start()
        self.port = self._server.port

    async def run(self) -> None:
        while not await self.wait_stopped(1.0):
            self.sink.check()

    async def cleanup(self) -> None:
        # Stop taking requests first, then flush what was accepted.
        if self._server is not None:
            await self._server.stop()
            self._server = None
        await super().cleanup()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def read_body(self, request: web.Request) -> bytes:
        limit = self.settings.connector_max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise Refused(413, "too_large", "the body is over the size limit")
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise Refused(413, "too_large", "the body is over the size limit") from None

    async def accept(self, items: list[Outgoing]) -> web.Response:
        """Spool and buffer new comments for Kafka: 200 once on disk, else 503."""
        fresh = self.fresh(items)
        try:
            taken = await self.sink.offer(fresh)
        except OSError as exc:
            self.metrics.rejected("spool_error")
            log.error("cannot write the spool; asking the platform to retry", error=str(exc))
            return _retry_later()
        if not taken:
            self.metrics.rejected("buffer_full")
            log.warning("buffer full; asking the platform to retry", buffered=self.sink.size)
            return _retry_later()
        if fresh:
            self.metrics.event("accepted", len(fresh))
        self.metrics.success(self.now())
        return web.json_response({"accepted": len(fresh)})

    def refuse(self, refused: Refused) -> web.Response:
        self.metrics.rejected(refused.reason)
        log.info("request refused", connector=self.name, reason=refused.reason)
        return web.json_response({"error": refused.message}, status=refused.status)

    def health(self) -> tuple[bool, dict[str, Any]]:
        full = self.sink.size >= self.sink.capacity
        return not full, {
            "connector": self.name,
            "status": "degraded" if full or not self.sink.connected else "ok",
            "kafka_connected": self.sink.connected,
            "buffered": self.sink.size,
            "capacity": self.sink.capacity,
            "spooled": self.sink.spool.pending if self.sink.spool is not None else 0,
        }


def _retry_later() -> web.Response:
    return web.json_response(
        {"error": "temporarily unable to accept events"},
        status=503,
        headers={"Retry-After": "30"},
    )
