"""The small HTTP server every connector can run: /health, /metrics, and any webhook routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from connectors.metrics import ConnectorMetrics

log = structlog.get_logger(__name__)

Health = Callable[[], tuple[bool, dict[str, Any]]]


class OpsServer:
    """Serves ``health()`` (200 when healthy, else 503) and the connector's metrics."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: ConnectorMetrics,
        health: Health,
        *,
        add_routes: Callable[[web.Application], None] | None = None,
        max_body_bytes: int = 1_000_000,
    ) -> None:
        self.host = host
        self.port = port
        self.metrics = metrics
        self.health = health
        self.add_routes = add_routes
        self.max_body_bytes = max_body_bytes
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        if self.add_routes is not None:
            self.add_routes(app)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        for address in self._runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])  # the real one when 0 was asked for
                break
        log.info("connector http server listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, _request: web.Request) -> web.Response:
        healthy, body = self.health()
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        response = web.Response(body=self.metrics.render())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response
