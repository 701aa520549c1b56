"""Assignment, internal notes and presence ("being handled by") in the officers' app.

GET  /api/review/{item_id}/handling     whom it is assigned to, the history, the notes,
                                        and who has it open now
POST /api/review/{item_id}/assignment   {"assignee": name, "id"}: assign (null: unassign);
                                        201, 200 for a repeat of the same "id"
POST /api/review/{item_id}/notes        {"text", "id"}: an internal note; 201, 200 repeat
POST /api/review/{item_id}/presence     an API client has the item open: 204
POST /events/presence/{item_id}         the item page's heartbeat: 204 (under /events/,
                                        so that it keeps no one signed in)
POST /items/{item_id}/assignment        the item page's form (assign to me / to an
                                        officer / unassign), with a key the page made
POST /items/{item_id}/notes             the item page's note form

Assignments and notes are records on triage.handling (worker/handling/service.py); the
page shows them once the projector has folded them, within a second or so.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from aiohttp import web

from records import ReviewItem
from records.handling import HandlingKind, HandlingRecord
from worker.context import WorkerContext
from worker.handling.service import HandlingRefused, new_key, submit
from worker.users import User
from worker.web.keys import CTX_KEY
from worker.web.page_models import item_href, local_time
from worker.web.pages import ITEM_EXTRAS, item_page, require_user
from worker.web.security import error_response, require_permission

__all__ = ["setup"]

MAX_BODY_BYTES = 16 * 1024

FLASH = {
    "assigned": "Assignment recorded.",
    "unassigned": "Assignment taken off.",
    "noted": "Note added. Only officers see it; it is never sent to the resident.",
}
# A refused note form, shown again on the item page with its error and what was written.
REFUSED: web.RequestKey[dict[str, str]] = web.RequestKey("handling_refused")


def _ctx(request: web.Request) -> WorkerContext:
    return request.app[CTX_KEY]


def _item(request: web.Request) -> ReviewItem | None:
    review = _ctx(request).views.review
    found: ReviewItem | None = review.get(request.match_info["item_id"]) if review else None
    return found


def _record_json(record: HandlingRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "by": record.by,
        "at": record.at.isoformat(),
        "assignee": record.assignee,
        "text": record.text,
    }


async def _touch(request: web.Request, item_id: str, user: User) -> None:
    presence = _ctx(request).views.presence
    if presence is not None:
        await asyncio.to_thread(presence.touch, item_id, user.name)


def _present(request: web.Request, item_id: str) -> list[str]:
    presence = _ctx(request).views.presence
    return presence.present([item_id]).get(item_id, []) if presence is not None else []


# -- API --------------------------------------------------------------------------------


async def _body(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise HandlingRefused(413, "the request body is too large")
    try:
        body = await request.json()
    except ValueError:
        raise HandlingRefused(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise HandlingRefused(400, "send a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise HandlingRefused(400, f"unknown fields: {unknown}")
    for name in allowed:
        if body.get(name) is not None and not isinstance(body[name], str):
            raise HandlingRefused(400, f"'{name}' must be a string")
    return body


async def api_handling(request: web.Request) -> web.Response:
    require_permission(request, "view")
    handling = _ctx(request).views.handling
    item = _item(request)
    if item is None:
        return error_response(404, f"no review item {request.match_info['item_id']!r}")
    if handling is None:
        return error_response(503, "assignment and notes are not running in this app")
    current = handling.assignment(item.id)
    return web.json_response(
        {
            "assignment": _record_json(current) if current else None,
            "history": [_record_json(r) for r in handling.history(item.id)],
            "notes": [_record_json(r) for r in handling.notes(item.id)],
            "present": _present(request, item.id),
        }
    )


async def _api_submit(request: web.Request, kind: HandlingKind | None) -> web.Response:
    user = require_permission(request, "view")
    try:
        if kind is None:
            body = await _body(request, {"assignee", "id"})
            assignee = body.get("assignee")
            kind = "assign" if assignee else "unassign"
        else:
            body = await _body(request, {"text", "id"})
            assignee = None
        submitted = await submit(
            _ctx(request),
            user,
            _item(request),
            kind,
            key=body.get("id") or new_key(),
            assignee=assignee,
            text=body.get("text") or "",
        )
    except HandlingRefused as refused:
        return error_response(refused.status, refused.message)
    return web.json_response(
        {"record": _record_json(submitted.record), "repeat": submitted.repeat},
        status=200 if submitted.repeat else 201,
    )


async def api_assignment(request: web.Request) -> web.Response:
    return await _api_submit(request, None)


async def api_note(request: web.Request) -> web.Response:
    return await _api_submit(request, "note")


async def api_presence(request: web.Request) -> web.Response:
    user = require_permission(request, "view")
    if _item(request) is None:
        return error_response(404, f"no review item {request.match_info['item_id']!r}")
    await _touch(request, request.match_info["item_id"], user)
    return web.Response(status=204)


# -- pages ------------------------------------------------------------------------------


def item_context(request: web.Request, user: User, item: ReviewItem) -> dict[str, Any]:
    """What the item page's handling section shows (an extra of pages._item_context)."""
    ctx = _ctx(request)
    handling = ctx.views.handling
    if handling is None:
        return {"handling": None}
    zone = ctx.zone
    store = ctx.views.users
    current = handling.assignment(item.id)
    others = [n for n in _present(request, item.id) if n != user.name]
    officers = [u.name for u in store.users() if u.at_least("officer")] if store else []
    refused = request.get(REFUSED) or {}
    extra: dict[str, Any] = {}
    if refused:
        extra = {"errors": [{"field": "note-text", "text": refused["message"]}], "error_count": 1}
    flash = FLASH.get(request.query.get("handled", ""))
    if flash:  # the other areas' flash stays when this one has none
        extra["flash"] = flash
    return {
        **extra,
        "handling": {
            "assignee": current.assignee if current else "",
            "assigned_by": current.by if current else "",
            "assigned_at": local_time(current.at, zone) if current else "",
            "history": [
                {
                    "text": (
                        f"{r.by} assigned it to {r.assignee}"
                        if r.kind == "assign"
                        else f"{r.by} took the assignment off"
                    ),
                    "at": local_time(r.at, zone),
                    "at_iso": r.at.isoformat(),
                }
                for r in handling.history(item.id)
            ],
            "notes": [
                {
                    "by": r.by,
                    "at": local_time(r.at, zone),
                    "at_iso": r.at.isoformat(),
                    "text": r.text,
                }
                for r in handling.notes(item.id)
            ],
            "others": others,
            "can_assign": user.at_least("officer") and item.status == "open",
            "can_note": user.at_least("officer"),
            "officers": [n for n in officers if n != user.name],
            "href": f"{item_href(item.id)}/assignment",
            "notes_href": f"{item_href(item.id)}/notes",
            "presence_href": f"/events/presence/{quote(item.id, safe='')}",
            "heartbeat_s": max(5, int(ctx.settings.web_presence_ttl_s / 3)),
            "key": new_key(),
            "note_key": refused.get("key") or new_key(),
            "note_text": refused.get("text", ""),
            "note_error": refused.get("message", ""),
        },
    }


def _back(item_id: str, note: str, anchor: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{item_href(item_id)}?handled={quote(note)}#{anchor}")


def _page_error(refused: HandlingRefused) -> web.HTTPException:
    message = refused.message[:1].upper() + refused.message[1:] + "."
    errors = {403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict}
    return errors.get(refused.status, web.HTTPUnprocessableEntity)(text=message)


async def page_assignment(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    form = await request.post()
    choice = str(form.get("assignee", ""))
    if choice == "me":
        choice = user.name
    kind: HandlingKind = "unassign" if form.get("unassign") else "assign"
    try:
        await submit(
            _ctx(request),
            user,
            _item(request),
            kind,
            key=str(form.get("key", "")),
            assignee=choice if kind == "assign" else None,
        )
    except HandlingRefused as refused:
        raise _page_error(refused) from None
    note = "unassigned" if kind == "unassign" else "assigned"
    raise _back(request.match_info["item_id"], note, "handling")


async def page_note(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    form = await request.post()
    text = str(form.get("text", ""))
    key = str(form.get("key", ""))
    item = _item(request)
    try:
        await submit(_ctx(request), user, item, "note", key=key, text=text)
    except HandlingRefused as refused:
        if refused.status == 422 and item is not None:
            request[REFUSED] = {
                "message": refused.message[:1].upper() + refused.message[1:] + ".",
                "key": key[:100],
                "text": text[:4000],
            }
            page = await item_page(request)
            page.set_status(422)
            return page
        raise _page_error(refused) from None
    raise _back(request.match_info["item_id"], "noted", "notes")


def setup(web_app: web.Application) -> None:
    web_app[ITEM_EXTRAS].append(item_context)
    web_app.router.add_get("/api/review/{item_id}/handling", api_handling)
    web_app.router.add_post("/api/review/{item_id}/assignment", api_assignment)
    web_app.router.add_post("/api/review/{item_id}/notes", api_note)
    web_app.router.add_post("/api/review/{item_id}/presence", api_presence)
    web_app.router.add_post("/events/presence/{item_id}", api_presence)
    web_app.router.add_post("/items/{item_id}/assignment", page_assignment)
    web_app.router.add_post("/items/{item_id}/notes", page_note)
