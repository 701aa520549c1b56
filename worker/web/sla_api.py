"""Reply-tracking API: the SLA report (JSON or CSV), open cases and emergency mode.

GET  /api/sla/report?period=day|week&from=YYYY-MM-DD&to=YYYY-MM-DD[&format=csv]
GET  /api/sla/cases?status=open|closed|all
GET  /api/emergency
POST /api/emergency   {"active": true|false, "reason": "..."}   (manager role)

Authentication is the security middleware's (worker/web/security.py); the routes here
check the role a request needs with its helper when that module is present.
"""

from __future__ import annotations

import json
import secrets
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from records.sla import EmergencyChange
from worker.context import WorkerContext
from worker.read_views import SlaReader
from worker.sla.report import build_report, received_between, to_csv, to_json
from worker.web.security import require_permission

MAX_DAYS = 366 * 2


def _require(request: web.Request, permission: str) -> str:
    """The signed-in user's name; 401/403 are raised by the security module."""
    return require_permission(request, permission).name


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _view(ctx: WorkerContext) -> SlaReader:
    view = ctx.views.sla
    if view is None:
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": "reply tracking is not running in this process"}),
            content_type="application/json",
        )
    return view


def _day(text: str | None, name: str) -> date | None:
    if text is None or text == "":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name} must be a date like 2026-11-23"}),
            content_type="application/json",
        ) from None


def _wants_csv(request: web.Request) -> bool:
    fmt = request.query.get("format", "").lower()
    if fmt:
        return fmt == "csv"
    return "text/csv" in request.headers.get("Accept", "")


def setup(web_app: web.Application, ctx: WorkerContext) -> None:
    async def report(request: web.Request) -> web.StreamResponse:
        _require(request, "view")
        view = _view(ctx)
        period = request.query.get("period", "day")
        if period not in ("day", "week"):
            return _bad("period must be day or week")
        fmt = request.query.get("format", "")
        if fmt not in ("", "csv", "json"):
            return _bad("format must be json or csv")
        zone = view.policy.working_time.zone
        now = ctx.clock.now()
        last = _day(request.query.get("to"), "to") or now.astimezone(zone).date()
        default_span = timedelta(days=6) if period == "day" else timedelta(weeks=7)
        first = _day(request.query.get("from"), "from") or last - default_span
        if last < first:
            return _bad("to must be on or after from")
        if (last - first).days > MAX_DAYS:
            return _bad(f"at most {MAX_DAYS} days in one report")
        rows = build_report(
            view.cases_received(*received_between(first, last, zone)),
            period="week" if period == "week" else "day",
            first=first,
            last=last,
            now=now,
            zone=zone,
        )
        if _wants_csv(request):
            name = f"sla-{period}-{first.isoformat()}-{last.isoformat()}.csv"
            return web.Response(
                text=to_csv(rows),
                content_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return web.json_response(
            {
                "period": period,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "target_hours": view.policy.working_time.reply_target_hours,
                "rows": to_json(rows),
            }
        )

    async def cases(request: web.Request) -> web.StreamResponse:
        _require(request, "view")
        view = _view(ctx)
        status = request.query.get("status", "open")
        if status not in ("open", "closed", "all"):
            return _bad("status must be open, closed or all")
        chosen = (
            view.open_cases()
            if status == "open"
            else [c for c in view.cases() if status in ("all", c.status)]
        )
        return web.json_response({"cases": [c.to_json_dict() for c in chosen]})

    async def emergency_get(request: web.Request) -> web.StreamResponse:
        _require(request, "view")
        return web.json_response(_view(ctx).emergency_state())

    async def emergency_post(request: web.Request) -> web.StreamResponse:
        user = _require(request, "emergency")
        view = _view(ctx)
        try:
            body: Any = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _bad("send a JSON object")
        if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
            return _bad('send {"active": true or false, "reason": "..."}')
        reason = body.get("reason", "")
        if not isinstance(reason, str) or not reason.strip():
            return _bad("give the reason for the change")
        by = user or body.get("by")
        if not isinstance(by, str) or not by.strip():
            return _bad("say who is making the change (by)")
        if view.publish_emergency is None:
            raise web.HTTPServiceUnavailable(text="reply tracking is not running")
        now = ctx.clock.now()
        change = EmergencyChange(
            id=f"emergency-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}",
            active=body["active"],
            by=by.strip()[:100],
            reason=reason.strip()[:1000],
            at=now,
        )
        await view.publish_emergency(change)
        return web.json_response(view.emergency_state())

    web_app.router.add_get("/api/sla/report", report)
    web_app.router.add_get("/api/sla/cases", cases)
    web_app.router.add_get("/api/emergency", emergency_get)
    web_app.router.add_post("/api/emergency", emergency_post)
