"""The reply board (open cases with working time left, at risk, breached; today's and
this week's compliance) and the emergency-mode switch, over the SLA view."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from records.sla import Case, EmergencyChange
from worker.read_views import off_loop
from worker.web.page_models import author_href, duration_text, item_href, local_time
from worker.web.pages import CTX, render, require_user

__all__ = ["BOARD_LIMIT", "case_row", "compliance_figure", "setup"]

# Open cases the board lists, soonest deadline first; it says how many more there are.
BOARD_LIMIT = 200


def _sla(request: web.Request) -> Any:
    return request.app[CTX].views.sla


def case_row(
    case: Case, view: Any, now: datetime, item: Any = None, *, zone: ZoneInfo
) -> dict[str, Any]:
    """One open case as the board shows it: deadline, working time left and its state."""
    at_risk = timedelta(hours=float(view.rules.at_risk_hours))
    if item is not None:
        author = item.comment.author
        who = author.name or (f"@{author.handle}" if author.handle else author.id)
        href = item_href(item.id)
    else:
        who = case.author_key
        href = author_href(case.author_key)
    if case.due_at is None:
        due, left, state, colour = "Clock paused", "", "Paused", "grey"
    elif now >= case.due_at:
        due, left, state, colour = local_time(case.due_at, zone), "None", "Breached", "red"
    else:
        remaining = view.rules.clock.between(now, case.due_at)
        due, left = local_time(case.due_at, zone), duration_text(remaining)
        state, colour = ("At risk", "orange") if remaining <= at_risk else ("On time", "green")
    return {
        "who": who,
        "href": href,
        "where": f"{case.platform}, {case.channel}",
        "received": local_time(case.received_at, zone),
        "out_of_hours": case.out_of_hours,
        "due": due,
        "left": left,
        "state": state,
        "colour": colour,
    }


def compliance_figure(cases: list[Case], since: datetime) -> tuple[str, str]:
    """(percentage, detail) of cases received since ``since`` answered within target."""
    relevant = [c for c in cases if c.received_at >= since]
    answered = [c for c in relevant if c.met_target is not None]
    late_open = [c for c in relevant if c.status == "open" and c.due_at and c.due_at <= since]
    decided = len(answered) + len(late_open)
    if not decided:
        return "–", f"{len(relevant)} received, none answered yet"
    met = sum(1 for c in answered if c.met_target)
    return f"{round(100 * met / decided)}%", f"{met} of {decided} within target"


async def replies_page(request: web.Request) -> web.StreamResponse:
    require_user(request)
    view = _sla(request)
    if view is None:
        return render(request, "replies.html", {"running": False})
    context = await off_loop(request.app[CTX].views, _board, request, view)
    return render(request, "replies.html", context)


def _board(request: web.Request, view: Any) -> dict[str, Any]:
    """The open cases soonest due, with the day's and week's figures."""
    ctx = request.app[CTX]
    now = ctx.clock.now()
    review = ctx.views.review
    open_cases = view.open_cases(BOARD_LIMIT)
    items = review.many([c.item_id for c in open_cases]) if review is not None else {}
    rows = [case_row(c, view, now, items.get(c.item_id), zone=ctx.zone) for c in open_cases]
    local = now.astimezone(ctx.zone)
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    every = view.cases_received(week)
    today_pct, today_detail = compliance_figure(every, today)
    week_pct, week_detail = compliance_figure(every, week)
    totals = view.counts(now)
    # At risk comes from the rows shown: the soonest due, so every case at risk unless
    # more than BOARD_LIMIT are.
    risk = sum(1 for row in rows if row["state"] == "At risk")
    on_time = totals["open"] - risk - totals["breached"]
    figures = [
        {"label": "Open", "value": totals["open"], "detail": f"{on_time} on time"},
        {
            "label": "At risk or breached",
            "value": risk + totals["breached"],
            "detail": f"{totals['breached']} breached",
        },
        {"label": "Today within target", "value": today_pct, "detail": today_detail},
        {"label": "This week within target", "value": week_pct, "detail": week_detail},
    ]
    return {
        "running": True,
        "cases": rows,
        "figures": figures,
        "hidden": max(0, totals["open"] - len(rows)),
    }


def _emergency_context(view: Any, user: Any, zone: ZoneInfo) -> dict[str, Any]:
    state = view.emergency
    latest = state.latest
    return {
        "running": True,
        "active": state.active,
        "clock": view.policy.replies.emergency_clock,
        "changed_at": local_time(latest.at, zone) if latest else "",
        "changed_by": latest.by if latest else "",
        "reason": latest.reason if latest else "",
        "can_switch": user.at_least("manager") and view.publish_emergency is not None,
        "history": [
            {
                "at": local_time(c.at, zone),
                "state": "On" if c.active else "Off",
                "by": c.by,
                "reason": c.reason,
            }
            for c in reversed(state.changes)
        ],
        "errors": [],
    }


async def emergency_page(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    view = _sla(request)
    if view is None:
        return render(request, "emergency.html", {"running": False})
    return render(request, "emergency.html", _emergency_context(view, user, request.app[CTX].zone))


async def switch_emergency(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    view = _sla(request)
    if view is None or view.publish_emergency is None:
        raise web.HTTPServiceUnavailable(text="Reply tracking is not running.")
    if not user.at_least("manager"):
        raise web.HTTPForbidden(text="Only a manager can switch emergency mode.")
    form = await request.post()
    active = str(form.get("active", "")) == "true"
    reason = str(form.get("reason", "")).strip()[:1000]
    if not reason:
        context = _emergency_context(view, user, request.app[CTX].zone)
        context.update({"errors": ["Enter the reason for the change."], "error_count": 1})
        return render(request, "emergency.html", context, status=422)
    now = request.app[CTX].clock.now()
    change = EmergencyChange(
        id=f"emergency-{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}",
        active=active,
        by=user.name,
        reason=reason,
        at=now,
    )
    # Written to the emergency topic and applied to this worker's view at once.
    await view.publish_emergency(change)
    raise web.HTTPSeeOther("/emergency")


def setup(web_app: web.Application) -> None:
    web_app.router.add_get("/replies", replies_page)
    web_app.router.add_get("/emergency", emergency_page)
    web_app.router.add_post("/emergency", switch_emergency)
