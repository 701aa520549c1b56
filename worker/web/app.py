"""Builds the aiohttp application served by the worker process.

Each area adds its routes through a ``setup(web_app, ctx)`` function in its own module.
"""

from __future__ import annotations

from aiohttp import web

from worker.context import WorkerContext
from worker.web import (
    api,
    authors,
    handling,
    live,
    ops,
    pages,
    privacy,
    replies,
    replying,
    reports,
    security,
    sla_api,
)
from worker.web.keys import CTX_KEY

__all__ = ["CTX_KEY", "create_web_app"]


def create_web_app(ctx: WorkerContext, *, officers: bool = True) -> web.Application:
    """The whole app; with ``officers=False`` only /health, /ready and /metrics (a worker
    started with ``--no-web``, whose officers' app is served by `triage web`)."""
    web_app = web.Application(client_max_size=256 * 1024)
    web_app[CTX_KEY] = ctx
    if not officers:
        for part in (ops, security):
            part.setup(web_app, ctx)
        return web_app
    # Their middlewares run in this order (authentication before the pages' CSRF check).
    for part in (ops, security, api, sla_api, pages):
        part.setup(web_app, ctx)
    # The pages' areas, on the sessions, templates and middlewares pages.setup installed.
    for area in (live, authors, replies, replying, handling, reports, privacy):
        area.setup(web_app)
    return web_app
