"""Server-sent events that tell an open queue page when the queue has changed.

The stream carries only counts and a version string (never comment text); the page
then fetches the re-rendered queue, which goes through the same escaping as any page.
The review view is polled every ``live_interval`` seconds, off the event loop when it
reads the database (worker/read_views.py's off_loop), so that a slow query elsewhere
does not hold the stream up. The stream ends when the session that opened it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web

from worker.read_views import off_loop
from worker.web.pages import CTX, PAGES_KEY, queue_snapshot, require_user
from worker.web.session import SESSION, SESSIONS_KEY

__all__ = ["setup"]

KEEP_ALIVE_S = 15.0


async def queue_events(request: web.Request) -> web.StreamResponse:
    require_user(request)
    state = request.app[PAGES_KEY]
    manager = request.app[SESSIONS_KEY]
    session = request.get(SESSION)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # let a reverse proxy pass events on at once
        }
    )
    await response.prepare(request)
    last_version = None
    quiet = 0.0
    with contextlib.suppress(ConnectionResetError):
        await response.write(b"retry: 3000\n\n")
        while not state.stopping.is_set():
            # The stream keeps no one signed in: it ends with the session (idle, signed out).
            if session is not None and not manager.still_valid(session):
                break
            snapshot = await off_loop(request.app[CTX].views, queue_snapshot, request)
            if snapshot["version"] != last_version:
                last_version = snapshot["version"]
                payload = json.dumps(snapshot, separators=(",", ":"))
                await response.write(f"event: queue\ndata: {payload}\n\n".encode())
                quiet = 0.0
            elif quiet >= KEEP_ALIVE_S:
                await response.write(b": still here\n\n")
                quiet = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.stopping.wait(), timeout=state.live_interval)
            quiet += state.live_interval
    return response


def setup(web_app: web.Application) -> None:
    web_app.router.add_get("/events/queue", queue_events)
