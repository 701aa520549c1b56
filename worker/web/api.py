"""The JSON API of the moderation workflow (officers' app and other council systems).

GET  /api/review?lane=&status=&limit=&after=
                                    review items (open by default), oldest first, a page
                                    of ``limit`` (100; at most MAX_PAGE) after the cursor
                                    ``after`` (the previous page's "next")
GET  /api/review?channel=&assignee=&label=&lane=
                                    the open items that pass (assignee: mine, unassigned
                                    or a name), each with its assignee
GET  /api/review/{item_id}          one item, its decisions and the messages to send
POST /api/decisions                 {"item_id", "action", "note", "reference", "labels",
                                     "approved_by", "id"}: 201, 200 for a repeat, 409 for
                                     the same id with other content ("id" is the caller's
                                     retry key; the decision's id is made from it and the
                                     user: worker/moderation/decisions.py)
GET  /api/authors/{platform}:{id}   an author's record under the policy
GET  /api/blocks?appealable=        blocked accounts, optionally only those that may appeal
GET  /api/audit.csv?from=&to=&author=   the policy's records as CSV

Authentication and roles: worker/web/security.py.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any, TypeVar

from aiohttp import web

from records.moderation import AuditRecord, AuthorLedger
from records.verdict import LANES
from worker.context import WorkerContext
from worker.handling.filters import FilterError, parse_filter
from worker.moderation.decisions import DecisionRefused, DecisionRequest
from worker.moderation.ledger import history
from worker.moderation.messages import messages_for
from worker.moderation.service import submit_decision
from worker.read_views import (
    MAX_PAGE,
    AuditReader,
    BadCursor,
    LedgerReader,
    ReviewReader,
    cursor_of,
    off_loop,
    read_cursor,
)
from worker.web.keys import CTX_KEY
from worker.web.page_models import csv_cell
from worker.web.security import error_response, require_permission

MAX_BODY_BYTES = 16 * 1024
DEFAULT_PAGE = 100

V = TypeVar("V")


def _ctx(request: web.Request) -> WorkerContext:
    return request.app[CTX_KEY]


def _running(view: V | None, name: str) -> V:
    if view is None:
        raise web.HTTPServiceUnavailable(
            text=web.json_response({"error": f"the {name} view is not running"}).text,
            content_type="application/json",
        )
    return view


def _review(request: web.Request) -> ReviewReader:
    return _running(_ctx(request).views.review, "review")


def _ledgers(request: web.Request) -> LedgerReader:
    return _running(_ctx(request).views.ledger, "ledger")


def _audit(request: web.Request) -> AuditReader:
    return _running(_ctx(request).views.audit, "audit")


FILTERS = ("channel", "assignee", "label")
# Open items per lane a filtered list returns at most.
FILTERED_LIMIT = 1000


async def review_items(request: web.Request) -> web.Response:
    user = require_permission(request, "view")
    lane = request.query.get("lane") or None
    if lane is not None and lane not in LANES:
        return error_response(400, f"lane must be one of {list(LANES)}")
    status: str | None = request.query.get("status", "open")
    if status not in ("open", "closed", "all"):
        return error_response(400, "status must be open, closed or all")
    if any(request.query.get(name) for name in FILTERS):
        return await off_loop(_ctx(request).views, _filtered, request, user.name, status)
    try:
        limit = int(request.query.get("limit", DEFAULT_PAGE))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_PAGE:
        return error_response(400, f"limit must be a whole number from 1 to {MAX_PAGE}")
    after = request.query.get("after")
    try:
        cursor = read_cursor(after) if after else None
    except BadCursor as exc:
        return error_response(400, f"after: {exc}")
    # One more than asked tells whether another page follows.
    views = _ctx(request).views
    wanted = None if status == "all" else status
    items = await off_loop(views, _review(request).page, lane, wanted, cursor, limit + 1)
    shown = items[:limit]
    next_page = cursor_of(shown[-1]) if len(items) > limit else None
    return web.json_response({"items": [item.to_json_dict() for item in shown], "next": next_page})


def _filtered(request: web.Request, user: str, status: str | None) -> web.Response:
    """Open items by lane, channel, assignee ("mine", "unassigned" or a name) and label."""
    if status != "open":
        return error_response(400, "channel, assignee and label filter open items only")
    handling = _ctx(request).views.handling
    if handling is None:
        return error_response(503, "assignment is not running in this app")
    try:
        where = parse_filter(request.query, user)
    except FilterError as exc:
        return error_response(400, str(exc))
    lanes = [where.lane] if where.lane else list(LANES)
    items = [item for lane in lanes for item in handling.queue(lane, where, FILTERED_LIMIT)]
    assigned = handling.assignments(item.id for item in items)
    out = []
    for item in items:
        entry = item.to_json_dict()
        record = assigned.get(item.id)
        entry["assignee"] = record.assignee if record is not None else None
        out.append(entry)
    return web.json_response({"items": out})


async def review_item(request: web.Request) -> web.Response:
    require_permission(request, "view")
    review = _review(request)
    views = _ctx(request).views
    item = await off_loop(views, review.get, request.match_info["item_id"])
    if item is None:
        return error_response(404, f"no review item {request.match_info['item_id']!r}")
    ledger = await off_loop(views, _ledgers(request).get, item.comment.author_key)
    decisions = await off_loop(views, review.decisions, item.id)
    config = views.moderation_config
    messages = messages_for(config.messages, item, ledger) if config is not None else []
    return web.json_response(
        {
            "item": item.to_json_dict(),
            "decisions": [d.to_json_dict() for d in decisions],
            "messages": [{"kind": m.kind, "text": m.text} for m in messages],
        }
    )


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise DecisionRefused(400, f"'{name}' must be a string")
    return value


def _request_from(body: Any) -> DecisionRequest:
    if not isinstance(body, dict):
        raise DecisionRefused(400, "send a JSON object")
    item_id = body.get("item_id")
    action = body.get("action")
    if not isinstance(item_id, str) or not item_id:
        raise DecisionRefused(400, "'item_id' is required (a string)")
    if not isinstance(action, str) or not action:
        raise DecisionRefused(400, "'action' is required (a string)")
    labels = body.get("labels")
    if labels is not None and (
        not isinstance(labels, list) or not all(isinstance(x, str) for x in labels)
    ):
        raise DecisionRefused(400, "'labels' must be a list of strings")
    return DecisionRequest(
        item_id=item_id,
        action=action,
        note=_optional_text(body, "note") or "",
        reference=_optional_text(body, "reference"),
        labels=tuple(labels) if labels is not None else None,
        approved_by=_optional_text(body, "approved_by"),
        id=_optional_text(body, "id"),
    )


async def post_decision(request: web.Request) -> web.Response:
    user = require_permission(request, "view")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return error_response(413, "the request body is too large")
    try:
        body = await request.json()
    except ValueError:
        return error_response(400, "the body must be JSON")
    try:
        submitted = await submit_decision(_ctx(request), user, _request_from(body))
    except DecisionRefused as refused:
        return error_response(refused.status, refused.message)
    return web.json_response(
        {"decision": submitted.decision.to_json_dict(), "repeat": submitted.repeat},
        status=200 if submitted.repeat else 201,
    )


def _ledger_json(ledger: AuthorLedger, request: web.Request) -> dict[str, Any]:
    ctx = _ctx(request)
    config = ctx.views.moderation_config
    out = ledger.model_dump(mode="json", exclude={"decision_ids"})
    block = ledger.active_block
    out["blocked"] = block is not None
    out["appealable_from"] = block.appealable_from.isoformat() if block else None
    out["appealable"] = block is not None and block.appealable_from <= ctx.clock.now().date()
    if config is not None:
        out["summary"] = history(ledger, config.moderation, ctx.clock.now()).model_dump(mode="json")
    return out


async def author(request: web.Request) -> web.Response:
    require_permission(request, "view")
    key = request.match_info["author_key"]
    if ":" not in key:
        return error_response(400, "an author key is platform:author_id")
    ledger = await off_loop(_ctx(request).views, _ledgers(request).get, key)
    if ledger is None:
        return error_response(404, f"no record for author {key!r}")
    return web.json_response(_ledger_json(ledger, request))


def _flag(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise web.HTTPBadRequest(
        text=web.json_response({"error": f"{name} must be true or false"}).text,
        content_type="application/json",
    )


async def blocks(request: web.Request) -> web.Response:
    require_permission(request, "view")
    appealable = _flag(request, "appealable")
    ledgers = await off_loop(_ctx(request).views, _ledgers(request).blocks, appealable)
    return web.json_response({"blocks": [_ledger_json(ledger, request) for ledger in ledgers]})


CSV_COLUMNS = (
    "decided_at",
    "platform",
    "account_name",
    "account_handle",
    "author_id",
    "channel",
    "posted_at",
    "post",
    "url",
    "categories",
    "reasons",
    "clauses",
    "action",
    "automatic",
    "decided_by",
    "note",
    "reference",
    "approved_by",
    "appealable_from",
    "item_id",
    "decision_id",
)


def _row(record: AuditRecord) -> list[str]:
    values: list[object] = [
        record.decided_at.isoformat(),
        record.platform,
        record.account_name,
        record.account_handle,
        record.author_id,
        record.channel,
        record.posted_at.isoformat(),
        record.text,
        record.url,
        " ".join(record.categories),
        " ".join(r.code for r in record.reasons),
        "; ".join(r.clause for r in record.reasons),
        record.action,
        "yes" if record.automatic else "no",
        record.decided_by,
        record.note,
        record.reference,
        record.approved_by,
        record.appealable_from.isoformat() if record.appealable_from else None,
        record.item_id,
        record.decision_id,
    ]
    return [csv_cell(v) for v in values]


def _date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=web.json_response({"error": f"{name} must be a date, YYYY-MM-DD"}).text,
            content_type="application/json",
        ) from None


async def audit_csv(request: web.Request) -> web.Response:
    require_permission(request, "export_audit")
    records = await off_loop(
        _ctx(request).views,
        _audit(request).records,
        _date(request, "from"),
        _date(request, "to"),
        request.query.get("author") or None,
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_row(r) for r in records)
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


def setup(web_app: web.Application, ctx: WorkerContext) -> None:
    web_app.router.add_get("/api/review", review_items)
    web_app.router.add_get("/api/review/{item_id}", review_item)
    web_app.router.add_post("/api/decisions", post_decision)
    web_app.router.add_get("/api/authors/{author_key}", author)
    web_app.router.add_get("/api/blocks", blocks)
    web_app.router.add_get("/api/audit.csv", audit_csv)
