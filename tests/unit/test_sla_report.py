"""SLA reports: per day and week, overall and per channel, JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from records.sla import Case
from worker.sla.report import build_report, nearest_rank, to_csv, to_json

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=LONDON)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def case(
    n: int,
    received: str,
    *,
    channel: str = "facebook-main",
    hours: float | None = None,
    closed_by: str = "council_reply",
    due: str | None = None,
) -> Case:
    return Case(
        id=f"case-{n}",
        conversation_key=f"facebook:t{n}",
        number=1,
        platform="facebook",
        channel=channel,
        status="open" if hours is None else "closed",
        opened_by=f"comment:facebook:c{n}",
        author_key=f"facebook:a{n}",
        item_id=f"rv-{n}",
        received_at=at(received),
        due_at=at(due) if due else at(received),
        target_hours=8,
        closed_at=None if hours is None else at(received),
        closed_by=None if hours is None else closed_by,  # type: ignore[arg-type]
        response_hours=hours,
    )


CASES = [
    case(1, "2026-11-23T10:00", hours=1.0),
    case(2, "2026-11-23T11:00", hours=3.0),
    case(3, "2026-11-23T12:00", hours=9.0, channel="x-main"),
    case(4, "2026-11-23T13:00", hours=2.0, closed_by="no_reply_needed"),
    case(5, "2026-11-24T10:00", due="2026-11-25T10:00"),  # open, breached by NOW
    case(6, "2026-11-27T10:00", due="2026-11-30T10:00"),  # open, not yet due
]


def test_daily_rows_overall_and_per_channel() -> None:
    """Monday's row counts four received, three answered, two within target."""
    rows = build_report(
        CASES, period="day", first=date(2026, 11, 23), last=date(2026, 11, 23), now=NOW, zone=LONDON
    )
    overall, facebook, x = rows
    assert (overall.channel, overall.received, overall.answered, overall.within_target) == (
        "all",
        4,
        3,
        2,
    )
    assert overall.within_target_pct == pytest.approx(66.7)
    assert overall.median_hours == 3.0
    assert overall.p90_hours == 9.0
    assert (overall.open, overall.breached) == (0, 1)
    assert (facebook.channel, facebook.received, facebook.within_target_pct) == (
        "facebook-main",
        3,
        100.0,
    )
    assert (x.channel, x.breached, x.within_target_pct) == ("x-main", 1, 0.0)


def test_open_cases_past_due_count_as_breached() -> None:
    """An unanswered case past its deadline is open, breached and counts against the target."""
    [row, _channel] = build_report(
        CASES, period="day", first=date(2026, 11, 24), last=date(2026, 11, 24), now=NOW, zone=LONDON
    )
    assert (row.received, row.open, row.breached, row.within_target_pct) == (1, 1, 1, 0.0)
    assert row.median_hours is None


def test_weekly_row_gathers_the_whole_week_and_empty_days_appear() -> None:
    """The week from Monday holds all six cases; days with none still get a row."""
    [week, *_] = build_report(
        CASES,
        period="week",
        first=date(2026, 11, 25),
        last=date(2026, 11, 25),
        now=NOW,
        zone=LONDON,
    )
    assert (week.start, week.received, week.open, week.breached) == (date(2026, 11, 23), 6, 2, 2)
    days = build_report(
        CASES,
        period="day",
        first=date(2026, 11, 25),
        last=date(2026, 11, 26),
        now=NOW,
        zone=LONDON,
        per_channel=False,
    )
    assert [(r.start, r.received) for r in days] == [
        (date(2026, 11, 25), 0),
        (date(2026, 11, 26), 0),
    ]
    assert days[0].within_target_pct is None


def test_local_day_boundaries_are_used() -> None:
    """A query at 00:30 London summer time belongs to that London day, not the UTC one."""
    summer = case(9, "2026-07-01T00:30", hours=1.0)
    [row] = build_report(
        [summer],
        period="day",
        first=date(2026, 7, 1),
        last=date(2026, 7, 1),
        now=NOW,
        zone=LONDON,
        per_channel=False,
    )
    assert row.received == 1


def test_nearest_rank_percentile() -> None:
    """The 90th percentile of 1..10 is 9 and of a single value is that value."""
    assert nearest_rank([float(i) for i in range(1, 11)], 0.9) == 9.0
    assert nearest_rank([4.0], 0.9) == 4.0


def test_csv_has_a_header_and_the_same_rows_as_json() -> None:
    """CSV and JSON carry the same figures; empty values are empty cells."""
    rows = build_report(
        CASES, period="day", first=date(2026, 11, 23), last=date(2026, 11, 24), now=NOW, zone=LONDON
    )
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    as_json = to_json(rows)
    assert len(parsed) == len(as_json) == 5
    assert parsed[0]["start"] == as_json[0]["start"] == "2026-11-23"
    assert parsed[0]["within_target"] == "2"
    assert parsed[3]["median_hours"] == ""


def test_formula_like_channel_names_are_defused_in_csv() -> None:
    """A channel name starting with '=' is written as text in the CSV."""
    rows = build_report(
        [case(1, "2026-11-23T10:00", hours=1.0, channel="=cmd")],
        period="day",
        first=date(2026, 11, 23),
        last=date(2026, 11, 23),
        now=NOW,
        zone=LONDON,
    )
    assert "'=cmd" in to_csv(rows)


def test_reversed_range_is_refused() -> None:
    """A report that ends before it starts raises ValueError."""
    with pytest.raises(ValueError, match="end"):
        build_report(
            [],
            period="day",
            first=date(2026, 11, 24),
            last=date(2026, 11, 23),
            now=NOW,
            zone=LONDON,
        )


def test_view_orders_open_cases_by_due_time_and_counts_breaches() -> None:
    """The SLA view lists open cases soonest due first and counts those past due."""
    from worker.sla.view import SlaView

    view = SlaView()
    for item in CASES:
        view.apply_case(item)
    view.apply_case(CASES[0])  # the same version twice changes nothing
    assert [c.id for c in view.open_cases()] == ["case-5", "case-6"]
    assert view.counts(NOW) == {"open": 2, "breached": 1}
    assert len(view.cases()) == 6
