"""Reports: labelled comments by category per day and reply compliance over time, as
SVG charts with the same figures in tables, and both as CSV downloads."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from records import CATEGORIES
from worker.read_views import off_loop
from worker.sla import report as sla_report
from worker.web.charts import stacked_bars
from worker.web.page_models import CATEGORY_TEXT, csv_cell, daily_counts
from worker.web.pages import CTX, render, require_user

__all__ = ["MAX_DAYS", "compliance_table", "parse_period", "setup"]

MAX_DAYS = 92
DEFAULT_DAYS = 14
COMPLIANCE_COLUMNS = (
    "Day",
    "Received",
    "Answered",
    "Answered within target",
    "Within target (%)",
    "Median hours",
    "90th percentile hours",
    "Open",
    "Breached",
)


class PeriodError(ValueError):
    pass


def parse_period(query: Any, today: date) -> tuple[date, date]:
    """The from/to dates of a request (default: the last fortnight), checked."""
    try:
        end = date.fromisoformat(query.get("to")) if query.get("to") else today
        start = (
            date.fromisoformat(query.get("from"))
            if query.get("from")
            else end - timedelta(days=DEFAULT_DAYS - 1)
        )
    except ValueError:
        raise PeriodError("Enter dates as year-month-day, for example 2026-11-23.") from None
    if start > end:
        raise PeriodError("The start date must be on or before the end date.")
    if (end - start).days >= MAX_DAYS:
        raise PeriodError(f"Choose a period of at most {MAX_DAYS} days.")
    return start, end


def _compliance(
    request: web.Request, start: date, end: date, *, per_channel: bool = False
) -> list[sla_report.ReportRow] | None:
    """The SLA part's daily report rows, or None when reply tracking is not running."""
    ctx = request.app[CTX]
    view = ctx.views.sla
    if view is None:
        return None
    return sla_report.build_report(
        view.cases_received(
            *sla_report.received_between(start, end, view.policy.working_time.zone)
        ),
        period="day",
        first=start,
        last=end,
        now=ctx.clock.now(),
        zone=view.policy.working_time.zone,
        per_channel=per_channel,
    )


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def compliance_table(rows: list[sla_report.ReportRow]) -> list[list[str]]:
    """The overall rows as the page's table shows them."""
    return [
        [
            row.start.strftime("%a %d %b %Y"),
            str(row.received),
            str(row.answered),
            str(row.within_target),
            _number(row.within_target_pct, 0),
            _number(row.median_hours),
            _number(row.p90_hours),
            str(row.open),
            str(row.breached),
        ]
        for row in rows
        if row.channel == sla_report.ALL_CHANNELS
    ]


def _today(request: web.Request) -> date:
    ctx = request.app[CTX]
    return ctx.clock.now().astimezone(ctx.zone).date()


def _labelled(request: web.Request, start: date, end: date) -> list[Any]:
    """The labels of the items whose comments were posted on the local days ``start`` to
    ``end``."""
    ctx = request.app[CTX]
    view = ctx.views.review
    if view is None:
        return []
    first = datetime.combine(start, time(), ctx.zone)
    after = datetime.combine(end + timedelta(days=1), time(), ctx.zone)
    return list(view.labelled_between(first, after))


def _volume_rows(request: web.Request, start: date, end: date) -> list[dict[str, Any]]:
    return daily_counts(_labelled(request, start, end), start, end, request.app[CTX].zone)


async def reports_page(request: web.Request) -> web.StreamResponse:
    require_user(request)
    today = _today(request)
    errors: list[str] = []
    try:
        start, end = parse_period(request.query, today)
    except PeriodError as exc:
        errors.append(str(exc))
        start, end = today - timedelta(days=DEFAULT_DAYS - 1), today
    views = request.app[CTX].views
    volumes = await off_loop(views, _volume_rows, request, start, end)
    labels = [row["day"].strftime("%d %b") for row in volumes]
    series = [
        (CATEGORY_TEXT[c], f"triage-chart__bar--{c}", [float(row[c]) for row in volumes])
        for c in CATEGORIES
    ]
    totals = {c: sum(row[c] for row in volumes) for c in CATEGORIES}
    volume_summary = (
        "Totals: " + ", ".join(f"{CATEGORY_TEXT[c].lower()} {totals[c]}" for c in CATEGORIES) + "."
    )
    compliance = await off_loop(views, _compliance, request, start, end)
    context: dict[str, Any] = {
        "errors": errors,
        "error_count": len(errors),
        "max_days": MAX_DAYS,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "category_names": [CATEGORY_TEXT[c] for c in CATEGORIES],
        "volumes": [
            {"day_text": row["day"].strftime("%a %d %b %Y"), "cells": [row[c] for c in CATEGORIES]}
            for row in volumes
        ],
        "volume_chart": stacked_bars(labels, series),
        "volume_summary": volume_summary,
        "compliance": None if compliance is None else compliance_table(compliance),
        "compliance_columns": COMPLIANCE_COLUMNS,
    }
    if compliance is not None:
        overall = [row for row in compliance if row.channel == sla_report.ALL_CHANNELS]
        context["compliance_chart"] = stacked_bars(
            [row.start.strftime("%d %b") for row in overall],
            [
                (
                    "Within target",
                    "triage-chart__bar--compliance",
                    [row.within_target_pct or 0.0 for row in overall],
                )
            ],
            maximum=100.0,
            unit="%",
        )
        received = sum(row.received for row in overall)
        met = sum(row.within_target for row in overall)
        context["compliance_summary"] = (
            f"{met} of {received} queries received in the period were answered within target."
        )
    return render(request, "reports.html", context)


def _csv_response(name: str, header: list[str], rows: list[list[Any]]) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _period_or_400(request: web.Request) -> tuple[date, date]:
    try:
        return parse_period(request.query, _today(request))
    except PeriodError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


async def volumes_csv(request: web.Request) -> web.StreamResponse:
    require_user(request)
    start, end = _period_or_400(request)
    rows = [
        [row["day"].isoformat(), *(row[c] for c in CATEGORIES)]
        for row in await off_loop(request.app[CTX].views, _volume_rows, request, start, end)
    ]
    return _csv_response(f"labelled-comments-{start}-to-{end}.csv", ["day", *CATEGORIES], rows)


async def compliance_csv(request: web.Request) -> web.StreamResponse:
    """The SLA part's report per day, overall and per channel, in its own CSV format."""
    require_user(request)
    start, end = _period_or_400(request)
    rows = await off_loop(
        request.app[CTX].views, _compliance, request, start, end, per_channel=True
    )
    if rows is None:
        raise web.HTTPServiceUnavailable(text="Reply tracking is not running.")
    return web.Response(
        text=sla_report.to_csv(rows),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="reply-compliance-{start}-to-{end}.csv"'
        },
    )


def setup(web_app: web.Application) -> None:
    web_app.router.add_get("/reports", reports_page)
    web_app.router.add_get("/reports/volumes.csv", volumes_csv)
    web_app.router.add_get("/reports/compliance.csv", compliance_csv)
