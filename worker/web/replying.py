"""Replying from the tool: the API routes, the item page's reply forms and their context.

POST /api/review/{item_id}/reply    {"text"} or {"template"}, optional "private" and "id"
                                    (the caller's retry key): 202 with the reply's id
GET  /api/replies/{reply_id}        the reply, its state and its outcome
POST /api/replies/{reply_id}/approve  a manager approves a written warning
POST /items/{item_id}/reply         the item page's form (CSRF token, and a key the page made)
POST /items/{item_id}/replies/{reply_id}/approve   the page's approval button

A reply's id is made by the server from the user's name and a key (records/reply.py).
Each rendering of the item page holds a fresh key in every reply form, so each click is
its own reply and a resubmitted form (a retry, a double click) is the same one. An API
caller that wants retries to be one reply sends its own ``id``; without one each call
gets a fresh key and so is a new reply.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import structlog
from aiohttp import web

from records import ReviewItem
from records.policy import PolicyError
from records.reply import KEY_PATTERN, TEMPLATES, ReplyTemplate
from worker.context import WorkerContext
from worker.moderation.messages import MessageError
from worker.replies.desk import REPLY_PLATFORMS, ReplyDesk, ReplyRefused, new_form_key
from worker.users import User
from worker.web.keys import CTX_KEY
from worker.web.page_models import item_href, local_time
from worker.web.pages import ITEM_EXTRAS, item_page, require_user
from worker.web.security import error_response, require_permission

__all__ = ["TEMPLATE_TITLES", "item_context", "setup"]

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 32 * 1024

TEMPLATE_TITLES: dict[ReplyTemplate, str] = {
    "acknowledgement": "Acknowledgement",
    "private_channel": "Move to a private channel",
    "emergency_contacts": "Emergency contacts",
    "out_of_hours": "Out of hours",
    "emergency": "Emergency mode",
    "warning": "Written warning (private message; needs a manager's approval)",
}


# A refused reply form, shown again on the item page with its error and what was entered.
REFUSED: web.RequestKey[dict[str, Any]] = web.RequestKey("reply_refused")

FLASH = {
    "queued": "Reply queued: the actions connector sends it, and its state shows below.",
    "awaiting_approval": "Written warning saved: it is sent once a manager approves it.",
    "approved": "Warning approved: the actions connector sends it.",
}


def _ctx(request: web.Request) -> WorkerContext:
    return request.app[CTX_KEY]


def _desk(request: web.Request) -> ReplyDesk | None:
    return _ctx(request).views.replies


def _item(request: web.Request) -> ReviewItem | None:
    review = _ctx(request).views.review
    found: ReviewItem | None = review.get(request.match_info["item_id"]) if review else None
    return found


# -- API --------------------------------------------------------------------------------


async def _reply_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, checked field by field; raises ReplyRefused."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ReplyRefused(413, "the request body is too large")
    try:
        body = await request.json()
    except ValueError:
        raise ReplyRefused(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise ReplyRefused(400, "send a JSON object")
    unknown = sorted(set(body) - {"text", "template", "private", "id"})
    if unknown:
        raise ReplyRefused(400, f"unknown fields: {unknown}")
    for name in ("text", "template", "id"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ReplyRefused(400, f"'{name}' must be a string")
    if not isinstance(body.get("private", False), bool):
        raise ReplyRefused(400, "'private' must be true or false")
    return body


async def api_reply(request: web.Request) -> web.Response:
    user = require_permission(request, "view")
    desk = _desk(request)
    try:
        if not user.at_least("officer"):
            raise ReplyRefused(403, f"replying needs the officer role (you are {user.role})")
        if desk is None:
            raise ReplyRefused(503, "replying is not running in this worker")
        body = await _reply_body(request)
        key = body.get("id")
        sent = await desk.send(
            _item(request),
            user,
            key=key if key is not None else new_form_key(),
            text=body.get("text"),
            template=body.get("template"),
            private=body.get("private", False),
        )
    except ReplyRefused as refused:
        return error_response(refused.status, refused.message)
    entry = sent.entry
    return web.json_response(
        {"id": entry.request.id, "state": entry.state, "repeat": sent.repeat}, status=202
    )


async def api_get_reply(request: web.Request) -> web.Response:
    require_permission(request, "view")
    desk = _desk(request)
    if desk is None:
        return error_response(503, "replying is not running in this worker")
    entry = desk.get(request.match_info["reply_id"])
    if entry is None:
        return error_response(404, f"no reply {request.match_info['reply_id']!r}")
    return web.json_response(entry.to_json_dict())


async def api_approve(request: web.Request) -> web.Response:
    user = require_permission(request, "view")
    desk = _desk(request)
    if desk is None:
        return error_response(503, "replying is not running in this worker")
    try:
        entry = await desk.approve(request.match_info["reply_id"], user)
    except ReplyRefused as refused:
        return error_response(refused.status, refused.message)
    return web.json_response(entry.to_json_dict())


# -- pages ------------------------------------------------------------------------------


def _suggestions(request: web.Request, item: ReviewItem) -> list[dict[str, str]]:
    """The out-of-hours or emergency acknowledgement the reply clock suggests for the post."""
    sla = _ctx(request).views.sla
    owes_reply = item.lane in ("response", "urgent") or item.due_at is not None
    if sla is None or item.status != "open" or not owes_reply:
        return []
    _out_of_hours, emergency, text = sla.rules.suggestion(item.comment.created_at)
    if text is None:
        return []
    if emergency:
        why = "Emergency mode is on: the council's holding reply for every query."
        return [{"template": "emergency", "title": "Emergency mode reply", "why": why}]
    why = "The post came in while the office was shut: acknowledge it now."
    return [{"template": "out_of_hours", "title": "Out-of-hours acknowledgement", "why": why}]


def item_context(request: web.Request, user: User, item: ReviewItem) -> dict[str, Any]:
    """What the item page's reply section shows (an extra of pages._item_context)."""
    desk = _desk(request)
    if desk is None:
        return {"replying": None}
    ctx = _ctx(request)
    zone = ctx.zone
    personal = bool(item.verdict and item.verdict.signals.personal_data)
    supported = item.comment.platform in REPLY_PLATFORMS
    templates = []
    texts: dict[str, str] = {}
    for template in TEMPLATES:
        try:
            texts[template] = desk.texts(template, item)
        except (PolicyError, MessageError) as exc:  # left out; the rest still work
            log.warning("saved reply unavailable", template=template, error=str(exc))
            continue
        templates.append(
            {"value": template, "title": TEMPLATE_TITLES[template], "text": texts[template]}
        )
    suggestions = [
        {**s, "text": texts[s["template"]]}
        for s in _suggestions(request, item)
        if s["template"] in texts
    ]
    replies = []
    for entry in desk.for_item(item.id):
        outcome = entry.outcome
        replies.append(
            {
                "id": entry.request.id,
                "text": entry.request.text,
                "private": entry.request.private,
                "by": entry.request.requested_by,
                "at": local_time(entry.request.requested_at, zone),
                "approved_by": entry.request.approved_by or "",
                "state": entry.state,
                "state_text": entry.state_text,
                "reason": outcome.reason if outcome is not None else "",
                "can_approve": entry.state == "awaiting_approval" and user.at_least("manager"),
                "approve_href": f"{item_href(item.id)}/replies/{quote(entry.request.id)}/approve",
            }
        )
    refused: dict[str, Any] = request.get(REFUSED) or {}
    form = refused.get("form") or {
        "template": "",
        "text": texts.get("private_channel", "") if personal else "",
        "private": False,
    }
    keys = [new_form_key() for _ in range(len(suggestions) + 1)]
    if refused and KEY_PATTERN.match(refused["key"]):
        keys[0] = refused["key"]  # nothing was written under it: a resubmit stays one reply
    extra: dict[str, Any] = {}
    if refused:
        extra = {
            "errors": [{"field": "reply-text", "text": refused["message"]}],
            "error_count": 1,
        }
    return {
        **extra,
        "flash": FLASH.get(request.query.get("reply", ""), ""),
        "replying": {
            "enabled": desk.enabled,
            "can_send": desk.enabled
            and supported
            and user.at_least("officer")
            and item.status == "open",
            "supported": supported,
            "platform": item.comment.platform,
            "href": f"{item_href(item.id)}/reply",
            # One key per form: each click its own reply, a resubmitted form the same one.
            "form_keys": keys,
            "form": form,
            "error": refused.get("message", ""),
            "described_by": " ".join(
                name
                for name, shown in (("reply-text-hint", personal), ("reply-text-error", refused))
                if shown
            ),
            "templates": templates,
            "suggestions": suggestions,
            "personal_data": personal,
            "replies": replies,
        },
    }


def _back(item_id: str, note: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{item_href(item_id)}?reply={quote(note)}#replies")


async def page_reply(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    desk = _desk(request)
    if desk is None:
        raise web.HTTPServiceUnavailable(text="Replying is not running in this worker.")
    form = await request.post()
    template = str(form.get("template", "")) or None
    text = None if template else str(form.get("text", ""))
    item = _item(request)
    try:
        sent = await desk.send(
            item,
            user,
            key=str(form.get("key", "")),
            text=text,
            template=template,
            private=str(form.get("private", "")) == "true",
        )
    except ReplyRefused as refused:
        message = refused.message[:1].upper() + refused.message[1:] + "."
        if refused.status in (400, 422) and item is not None:
            # The item page again, with the error and what the officer wrote.
            request[REFUSED] = {
                "message": message,
                "key": str(form.get("key", ""))[:100],
                "form": {
                    "template": template or "",
                    "text": text or "",
                    "private": str(form.get("private", "")) == "true",
                },
            }
            page = await item_page(request)
            page.set_status(refused.status)
            return page
        errors = {403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict}
        raise errors.get(refused.status, web.HTTPUnprocessableEntity)(text=message) from None
    note = "awaiting_approval" if sent.entry.state == "awaiting_approval" else "queued"
    raise _back(request.match_info["item_id"], note)


async def page_approve(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    desk = _desk(request)
    if desk is None:
        raise web.HTTPServiceUnavailable(text="Replying is not running in this worker.")
    try:
        await desk.approve(request.match_info["reply_id"], user)
    except ReplyRefused as refused:
        errors = {403: web.HTTPForbidden, 404: web.HTTPNotFound}
        raise errors.get(refused.status, web.HTTPUnprocessableEntity)(
            text=refused.message[:1].upper() + refused.message[1:] + "."
        ) from None
    raise _back(request.match_info["item_id"], "approved")


def setup(web_app: web.Application) -> None:
    web_app[ITEM_EXTRAS].append(item_context)
    web_app.router.add_post("/api/review/{item_id}/reply", api_reply)
    web_app.router.add_get("/api/replies/{reply_id}", api_get_reply)
    web_app.router.add_post("/api/replies/{reply_id}/approve", api_approve)
    web_app.router.add_post("/items/{item_id}/reply", page_reply)
    web_app.router.add_post("/items/{item_id}/replies/{reply_id}/approve", page_approve)
