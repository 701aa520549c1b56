"""/subject-access: a manager downloads everything the database holds about one person.

The same export as ``triage subject-access`` (worker/db/privacy.py), as one JSON file,
logged in privacy_log under the signed-in manager's name. It reads the database, so it
needs the accounts' database (every worker has it) and the projector's tables.
"""

from __future__ import annotations

import asyncio
import json
import re

from aiohttp import web

from records.moderation import Role
from worker.db.privacy import PrivacyError, subject_access
from worker.web.pages import CTX, render, require_user

__all__ = ["setup"]

NEEDED: Role = "manager"


def _page(
    request: web.Request, *, author: str = "", error: str = "", status: int = 200
) -> web.Response:
    context = {
        "author": author,
        "errors": [error] if error else [],
        "error_count": int(bool(error)),
    }
    return render(request, "subject_access.html", context, status=status)


def _allowed(request: web.Request) -> str:
    user = require_user(request)
    if not user.at_least(NEEDED):
        raise web.HTTPForbidden(text="Only a manager can export a person's data.")
    return user.name


async def subject_access_page(request: web.Request) -> web.StreamResponse:
    _allowed(request)
    return _page(request, author=str(request.query.get("author", ""))[:250])


async def export(request: web.Request) -> web.StreamResponse:
    name = _allowed(request)
    ctx = request.app[CTX]
    if ctx.views.users is None:
        raise web.HTTPServiceUnavailable(text="The database is not open in this process.")
    form = await request.post()
    author = str(form.get("author", "")).strip()[:250]
    if not author:
        return _page(request, error="Enter the author key, as facebook:1234.", status=422)
    try:
        result = await asyncio.to_thread(
            subject_access, ctx.views.users.database, author, by=name, now=ctx.clock.now()
        )
    except PrivacyError as exc:
        return _page(request, author=author, error=str(exc), status=422)
    filename = "subject-access-" + re.sub(r"[^A-Za-z0-9_.-]", "_", author) + ".json"
    return web.Response(
        body=json.dumps(result.document(), indent=2).encode("utf-8"),
        content_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def setup(web_app: web.Application) -> None:
    web_app.router.add_get("/subject-access", subject_access_page)
    web_app.router.add_post("/subject-access", export)
