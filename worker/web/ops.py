"""Operators' endpoints: /health (the process lives), /ready (partitions assigned), /metrics.

/metrics asks for ``Authorization: Bearer <TRIAGE_METRICS_TOKEN>`` when that setting is
set; otherwise it is open, as Prometheus scrapers on a private network expect.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from worker.context import WorkerContext


def setup(web_app: web.Application, ctx: WorkerContext) -> None:
    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_request: web.Request) -> web.Response:
        if ctx.fatal.error is not None:
            return web.json_response({"status": "stopping"}, status=503)
        if not ctx.ready:
            return web.json_response({"status": "starting"}, status=503)
        return web.json_response({"status": "ready"})

    async def metrics(request: web.Request) -> web.Response:
        token = ctx.settings.metrics_token
        if token is not None:
            given = request.headers.get("Authorization", "")
            expected = f"Bearer {token.get_secret_value()}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return web.Response(
                    status=401,
                    text="metrics need a bearer token\n",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        return web.Response(
            body=ctx.metrics.render(),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    web_app.router.add_get("/health", health)
    web_app.router.add_get("/ready", ready)
    web_app.router.add_get("/metrics", metrics)
