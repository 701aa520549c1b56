"""The aiohttp app key under which the worker's context is kept (its own module, so that
the route modules and worker/web/app.py, which imports them, need not import each other)."""

from __future__ import annotations

from aiohttp import web

from worker.context import WorkerContext

__all__ = ["CTX_KEY"]

CTX_KEY = web.AppKey("ctx", WorkerContext)
