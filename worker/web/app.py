"""Builds the aiohttp application served by the worker process.

Each area adds its routes through a ``setup(web_app, ctx)`` function in its own module;
modules that are not there yet are skipped.
"""

from __future__ import annotations

import importlib
import importlib.util

from aiohttp import web

from worker.context import WorkerContext

CTX_KEY = web.AppKey("ctx", WorkerContext)

# Modules under worker.web, each with setup(web_app, ctx), in the order they are added.
ROUTE_MODULES = ("ops", "security", "api", "sla_api", "pages")


def create_web_app(ctx: WorkerContext) -> web.Application:
    web_app = web.Application(client_max_size=256 * 1024)
    web_app[CTX_KEY] = ctx
    for name in ROUTE_MODULES:
        module_name = f"worker.web.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).setup(web_app, ctx)
    return web_app
