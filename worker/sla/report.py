"""How well the reply promise is kept: figures per day or week, overall and per channel.

Pure: it takes the cases (the SLA view) and the current instant. A case belongs to the
day (or the Monday-to-Sunday week) in which its query was received, in local time.

- ``received``: cases opened in the period.
- ``answered``: closed by a reply (the council's, or an officer's 'replied' or 'moved to a
  private channel'); 'no reply needed' closes a case without counting either way.
- ``within_target``: answered within the reply target; ``within_target_pct`` is that share
  of the cases whose outcome is known (answered, or still open past the deadline).
- ``median_hours`` / ``p90_hours``: working hours to the first reply of answered cases
  (the 90th percentile by the nearest-rank method).
- ``open``: still waiting now; ``breached``: answered late, or open past the deadline.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from records.sla import Case

__all__ = [
    "ALL_CHANNELS",
    "ANSWERS",
    "COLUMNS",
    "Period",
    "ReportRow",
    "build_report",
    "nearest_rank",
    "period_start",
    "periods",
    "received_between",
    "to_csv",
    "to_json",
]

Period = Literal["day", "week"]
ALL_CHANNELS = "all"
ANSWERS = frozenset({"council_reply", "replied", "moved_private"})


@dataclass(frozen=True)
class ReportRow:
    period: Period
    start: date
    channel: str
    received: int
    answered: int
    within_target: int
    within_target_pct: float | None
    median_hours: float | None
    p90_hours: float | None
    open: int
    breached: int


COLUMNS = tuple(ReportRow.__dataclass_fields__)


def period_start(day: date, period: Period) -> date:
    return day - timedelta(days=day.weekday()) if period == "week" else day


def periods(first: date, last: date, period: Period) -> list[date]:
    step = timedelta(days=7 if period == "week" else 1)
    start, out = period_start(first, period), []
    while start <= last:
        out.append(start)
        start += step
    return out


def nearest_rank(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _row(period: Period, start: date, channel: str, cases: list[Case], now: datetime) -> ReportRow:
    answered = [c for c in cases if c.closed_by in ANSWERS and c.response_hours is not None]
    hours = [c.response_hours for c in answered if c.response_hours is not None]
    within = sum(1 for c in answered if c.met_target)
    open_ = [c for c in cases if c.status == "open"]
    open_late = [c for c in open_ if c.due_at is not None and now >= c.due_at]
    late = sum(1 for c in answered if not c.met_target) + len(open_late)
    known = len(answered) + len(open_late)
    return ReportRow(
        period=period,
        start=start,
        channel=channel,
        received=len(cases),
        answered=len(answered),
        within_target=within,
        within_target_pct=round(100 * within / known, 1) if known else None,
        median_hours=round(statistics.median(hours), 2) if hours else None,
        p90_hours=round(nearest_rank(hours, 0.9), 2) if hours else None,
        open=len(open_),
        breached=late,
    )


def received_between(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants from the start of ``first`` to the end of ``last`` in ``zone``, widened
    to whole weeks: every case a report on those days (or their weeks) counts."""
    start = datetime.combine(period_start(first, "week"), time(), zone)
    end = datetime.combine(last + timedelta(days=7), time(), zone)
    return start, end


def build_report(
    cases: Iterable[Case],
    *,
    period: Period,
    first: date,
    last: date,
    now: datetime,
    zone: ZoneInfo,
    per_channel: bool = True,
) -> list[ReportRow]:
    """One row per period from ``first`` to ``last`` (whole periods), overall then per channel."""
    if last < first:
        raise ValueError("the report must end on or after its first day")
    starts = periods(first, last, period)
    buckets: dict[date, list[Case]] = {start: [] for start in starts}
    for case in cases:
        start = period_start(case.received_at.astimezone(zone).date(), period)
        if start in buckets:
            buckets[start].append(case)
    rows: list[ReportRow] = []
    for start in starts:
        bucket = buckets[start]
        rows.append(_row(period, start, ALL_CHANNELS, bucket, now))
        if per_channel:
            for channel in sorted({c.channel for c in bucket}):
                mine = [c for c in bucket if c.channel == channel]
                rows.append(_row(period, start, channel, mine, now))
    return rows


def to_json(rows: Iterable[ReportRow]) -> list[dict[str, object]]:
    return [{**asdict(row), "start": row.start.isoformat()} for row in rows]


def to_csv(rows: Iterable[ReportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in to_json(rows):
        writer.writerow([_cell(row[c]) for c in COLUMNS])
    return out.getvalue()


def _cell(value: object) -> object:
    # A spreadsheet would run a text cell starting with = + - @ (or a tab or CR) as a formula.
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
