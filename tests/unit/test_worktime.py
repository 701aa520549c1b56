"""Working time: office hours, bank holidays, clock changes and closed periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from records.policy import PolicyError
from worker.sla.policy import WorkingTimePolicy, parse_sla_policy
from worker.sla.worktime import ClockStopped, WorkCalendar, parse_instant

LONDON = ZoneInfo("Europe/London")
CAL = WorkCalendar()

# Hypothesis takes naive bounds and adds the zone itself.
instants = st.datetimes(
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001
    max_value=datetime(2027, 12, 20),  # noqa: DTZ001
    timezones=st.just(UTC),
)
# Whole seconds keep the round trip exact.
durations = st.integers(min_value=0, max_value=60 * 3600).map(lambda s: timedelta(seconds=s))


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def inside_office_hours(instant: datetime) -> bool:
    here = instant.astimezone(LONDON)
    return CAL.is_working_day(here.date()) and time(9) <= here.time() <= time(17)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2026-11-23T10:00", "2026-11-24T10:00:00+00:00"),
        ("2026-11-27T16:00", "2026-11-30T16:00:00+00:00"),
        ("2026-11-28T00:00", "2026-11-30T17:00:00+00:00"),
        ("2026-11-28T13:30", "2026-11-30T17:00:00+00:00"),
        ("2026-11-28T23:59:59", "2026-11-30T17:00:00+00:00"),
        ("2026-12-24T16:00", "2026-12-29T16:00:00+00:00"),
        ("2026-03-27T16:30", "2026-03-30T16:30:00+01:00"),
        ("2027-03-25T12:00", "2027-03-30T12:00:00+01:00"),
    ],
)
def test_issue_examples(received: str, due: str) -> None:
    """The due instants given in the issue come out exactly, with their UTC offsets."""
    assert CAL.add(local(received), 8).isoformat() == due


@settings(max_examples=300, deadline=None)
@given(instants, durations)
def test_added_time_lands_inside_office_hours(start: datetime, hours: timedelta) -> None:
    """Adding working time never lands outside office hours."""
    assert inside_office_hours(CAL.add(start, hours))


@settings(max_examples=200, deadline=None)
@given(instants, instants, durations)
def test_adding_is_monotone_in_the_start(a: datetime, b: datetime, hours: timedelta) -> None:
    """A later start is never due earlier."""
    early, late = sorted((a, b))
    assert CAL.add(early, hours) <= CAL.add(late, hours)


@settings(max_examples=200, deadline=None)
@given(instants, durations, durations)
def test_adding_is_monotone_in_the_hours(start: datetime, h1: timedelta, h2: timedelta) -> None:
    """More hours are never due earlier."""
    small, big = sorted((h1, h2))
    assert CAL.add(start, small) <= CAL.add(start, big)


@settings(max_examples=300, deadline=None)
@given(instants, durations)
def test_measuring_back_gives_the_hours_added(start: datetime, hours: timedelta) -> None:
    """The working time between a start and start-plus-hours is exactly those hours."""
    assert CAL.between(start, CAL.add(start, hours)) == hours


@settings(max_examples=200, deadline=None)
@given(instants, instants, instants)
def test_measuring_is_additive(a: datetime, b: datetime, c: datetime) -> None:
    """Working time over two consecutive stretches adds up to the whole."""
    first, middle, last = sorted((a, b, c))
    assert CAL.between(first, middle) + CAL.between(middle, last) == CAL.between(first, last)


@settings(max_examples=200, deadline=None)
@given(instants)
def test_next_opening_is_open_and_not_before(instant: datetime) -> None:
    """The next opening is at or after the instant, and the clock runs there."""
    opening = CAL.next_opening(instant)
    assert opening >= instant
    assert CAL.is_open(opening)
    assert CAL.between(instant, opening) == timedelta(0)


def clock_change_sundays() -> list[date]:
    sundays = []
    day = date(2025, 1, 1)
    while day < date(2028, 1, 1):
        noon_before = datetime.combine(day - timedelta(days=1), time(12), tzinfo=LONDON)
        noon = datetime.combine(day, time(12), tzinfo=LONDON)
        if noon.utcoffset() != noon_before.utcoffset():
            sundays.append(day)
        day += timedelta(days=1)
    return sundays


def test_there_are_six_clock_changes_in_2025_to_2027() -> None:
    """The clock-change helper finds the spring and autumn Sunday of each year."""
    assert len(clock_change_sundays()) == 6


@pytest.mark.parametrize("sunday", clock_change_sundays())
def test_clock_change_weekend_keeps_eight_hour_days(sunday: date) -> None:
    """Two working days around a clock change are 16 hours, 09:00 to 17:00 local."""
    before = sunday - timedelta(days=1)
    while not CAL.is_working_day(before):
        before -= timedelta(days=1)
    after = sunday + timedelta(days=1)
    while not CAL.is_working_day(after):
        after += timedelta(days=1)
    start = datetime.combine(before, time(9), tzinfo=LONDON)
    due = CAL.add(start, 16)
    assert due == datetime.combine(after, time(17), tzinfo=LONDON)
    assert due.utcoffset() != start.utcoffset()
    assert CAL.between(start, due) == timedelta(hours=16)


ENGLAND_HOLIDAYS = sorted(
    day
    for day in holidays.country_holidays("GB", subdiv="ENG", years=[2025, 2026, 2027])
    if day.weekday() < 5
)


def test_the_calendar_knows_eight_or_more_weekday_holidays_a_year() -> None:
    """England has at least eight weekday bank holidays each year (observed days included)."""
    for year in (2025, 2026, 2027):
        assert sum(1 for day in ENGLAND_HOLIDAYS if day.year == year) >= 8


@pytest.mark.parametrize("holiday", ENGLAND_HOLIDAYS)
def test_every_england_bank_holiday_is_shut(holiday: date) -> None:
    """No working time passes on a bank holiday, and a deadline skips over it."""
    noon = datetime.combine(holiday, time(12), tzinfo=LONDON)
    assert not CAL.is_open(noon)
    day_start = datetime.combine(holiday, time(0), tzinfo=LONDON)
    assert CAL.between(day_start, day_start + timedelta(days=1)) == timedelta(0)
    due = CAL.add(noon, 1)
    assert due.date() > holiday
    assert due.date() not in ENGLAND_HOLIDAYS


def test_closing_instant_counts_as_shut_and_opening_as_open() -> None:
    """17:00 is closed and 09:00 is open on a working day."""
    assert CAL.is_open(local("2026-11-23T09:00"))
    assert not CAL.is_open(local("2026-11-23T17:00"))
    assert not CAL.is_open(local("2026-11-23T08:59:59"))
    assert CAL.next_opening(local("2026-11-23T17:00")) == local("2026-11-24T09:00")


def test_per_weekday_hours_and_closure_days_from_the_policy() -> None:
    """Shorter Friday hours and an extra closure day change the deadline."""
    policy = parse_sla_policy(
        {
            "working_time": {
                "hours": {
                    "monday": "09:00-17:00",
                    "tuesday": "09:00-17:00",
                    "wednesday": "09:00-17:00",
                    "thursday": "09:00-17:00",
                    "friday": "09:00-16:30",
                },
                "closures": ["2026-11-30"],
            }
        }
    )
    cal = WorkCalendar(policy.working_time)
    # Friday 16:00 leaves 30 minutes; Monday is closed; Tuesday 09:00 + 7.5 h.
    assert cal.add(local("2026-11-27T16:00"), 8) == local("2026-12-01T16:30")
    assert not cal.is_open(local("2026-11-30T12:00"))


def test_closed_period_stops_the_clock() -> None:
    """A bounded closed period is cut out of office hours."""
    cal = CAL.with_closed([(local("2026-11-23T12:00"), local("2026-11-23T14:00"))])
    assert cal.add(local("2026-11-23T10:00"), 8) == local("2026-11-24T12:00")
    assert cal.between(local("2026-11-23T09:00"), local("2026-11-23T17:00")) == timedelta(hours=6)


def test_open_ended_closed_period_has_no_due_time() -> None:
    """While the clock is stopped with no end, no due time can be given but time is measured."""
    cal = CAL.with_closed([(local("2026-11-23T12:00"), None)])
    with pytest.raises(ClockStopped):
        cal.add(local("2026-11-23T10:00"), 8)
    assert cal.between(local("2026-11-23T10:00"), local("2026-11-30T10:00")) == timedelta(hours=2)
    assert not cal.is_open(local("2026-11-24T10:00"))


def test_naive_instants_are_refused() -> None:
    """A timestamp without a zone is ambiguous and raises."""
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add(datetime(2026, 11, 23, 10), 1)  # noqa: DTZ001 - naive on purpose


def test_parse_instant_reads_naive_text_as_local_time() -> None:
    """Text without an offset is London time; with an offset it is kept."""
    assert parse_instant("2026-07-01T10:00", LONDON).utcoffset() == timedelta(hours=1)
    assert parse_instant("2026-07-01T10:00+00:00", LONDON).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "section",
    [
        {"timezone": "Mars/Olympus"},
        {"hours": {"monday": "17:00-09:00"}},
        {"hours": {"funday": "09:00-17:00"}},
        {"hours": {"monday": "closed"}},
        {"reply_target_hours": 0},
    ],
)
def test_bad_policy_sections_are_refused(section: dict[str, object]) -> None:
    """A wrong working_time section raises a PolicyError naming the problem."""
    with pytest.raises(PolicyError, match="working_time"):
        parse_sla_policy({"working_time": section})


def test_missing_sections_take_the_council_defaults() -> None:
    """An empty policy means 09:00-17:00 weekdays, 8 hours, 2 hours at-risk warning."""
    policy = parse_sla_policy({})
    assert policy.working_time == WorkingTimePolicy()
    assert policy.working_time.reply_target_hours == 8
    assert policy.working_time.at_risk_hours == 2
