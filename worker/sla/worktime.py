"""Working time: office hours in the council's time zone, less bank holidays and closures.

Pure and synchronous. Instants go in and come out timezone-aware; arithmetic is done on
real elapsed time inside each day's opening span, so a day of 09:00-17:00 is eight hours
on either side of a clock change (the change happens at night, when the office is shut).

Extra closed periods (for example while emergency mode pauses the reply clock) are given
as UTC intervals and cut out of the opening spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

import holidays

from worker.sla.policy import WEEKDAYS, WorkingTimePolicy

__all__ = ["ClockStopped", "Interval", "WorkCalendar", "parse_instant"]

# A calendar with no opening in this many days is treated as a configuration error
# rather than looped over for ever.
_MAX_SEARCH_DAYS = 3 * 366

Interval = tuple[datetime, datetime | None]
"""A UTC interval; an end of None means it has not ended yet."""


def _aware(instant: datetime, what: str = "instant") -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return instant.astimezone(UTC)


@dataclass(frozen=True)
class WorkCalendar:
    """Office hours for one policy; ``closed`` adds UTC periods when the clock stops."""

    policy: WorkingTimePolicy = field(default_factory=WorkingTimePolicy)
    closed: tuple[Interval, ...] = ()

    def __post_init__(self) -> None:
        for start, end in self.closed:
            _aware(start, "closed period start")
            if end is not None:
                _aware(end, "closed period end")

    def with_closed(self, periods: Iterable[Interval]) -> WorkCalendar:
        """The same office hours with extra closed periods (emergency pauses)."""
        return WorkCalendar(self.policy, tuple(periods))

    @cached_property
    def _holidays(self) -> Any:
        if self.policy.bank_holidays_country is None:
            return {}
        return holidays.country_holidays(
            self.policy.bank_holidays_country, subdiv=self.policy.bank_holidays_subdivision
        )

    def is_working_day(self, day: date) -> bool:
        return self._day_span(day) is not None

    @cached_property
    def _spans(self) -> dict[date, tuple[datetime, datetime] | None]:
        return {}

    def _day_span(self, day: date) -> tuple[datetime, datetime] | None:
        # Every query asks about the same few days: each is worked out once.
        spans = self._spans
        if day not in spans:
            spans[day] = self._work_out_span(day)
        return spans[day]

    def _work_out_span(self, day: date) -> tuple[datetime, datetime] | None:
        span = self.policy.hours.get(WEEKDAYS[day.weekday()])
        if span is None or day in self.policy.closures or day in self._holidays:
            return None
        zone = self.policy.zone
        opens = datetime.combine(day, span[0], tzinfo=zone).astimezone(UTC)
        closes = datetime.combine(day, span[1], tzinfo=zone).astimezone(UTC)
        return opens, closes

    def _spans_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Opening spans (UTC, closed periods cut out) that end after ``instant``, in order."""
        day = instant.astimezone(self.policy.zone).date() - timedelta(days=1)
        empty_days = 0
        while True:
            span = self._day_span(day)
            day += timedelta(days=1)
            if span is None or span[1] <= instant:
                empty_days += 1
                if empty_days > _MAX_SEARCH_DAYS:
                    raise ValueError("no office hours within three years: check the policy")
                continue
            pieces = _subtract(span, self.closed)
            if not pieces:
                empty_days += 1
                if empty_days > _MAX_SEARCH_DAYS:
                    raise ValueError("the reply clock is stopped with no end in sight")
                if any(end is None and start <= span[1] for start, end in self.closed):
                    raise ClockStopped("the reply clock is stopped until further notice")
                continue
            empty_days = 0
            for start, end in pieces:
                if end > instant:
                    yield max(start, instant), end

    def is_open(self, instant: datetime) -> bool:
        """True when the clock runs at ``instant`` (a closing instant counts as shut)."""
        instant = _aware(instant)
        try:
            start, _end = next(self._spans_from(instant))
        except ClockStopped:
            return False
        return start == instant

    def next_opening(self, instant: datetime) -> datetime:
        """``instant`` itself when open, else the next moment the clock starts running."""
        instant = _aware(instant)
        start, _end = next(self._spans_from(instant))
        return start.astimezone(self.policy.zone)

    def add(self, instant: datetime, hours: float | timedelta) -> datetime:
        """The instant when ``hours`` of working time after ``instant`` have passed.

        The answer is always inside office hours (a span's closing instant included), in
        the policy's time zone. Raises :class:`ClockStopped` when an open-ended closed
        period means the answer is not known yet.
        """
        instant = _aware(instant)
        left = hours if isinstance(hours, timedelta) else timedelta(hours=hours)
        if left < timedelta(0):
            raise ValueError("hours must not be negative")
        for start, end in self._spans_from(instant):
            if start + left <= end:
                return (start + left).astimezone(self.policy.zone)
            left -= end - start
        raise AssertionError("unreachable: the span iterator never ends")  # pragma: no cover

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from ``start`` to ``end``; zero when ``end`` is not after ``start``."""
        start, end = _aware(start, "start"), _aware(end, "end")
        total = timedelta(0)
        if end <= start:
            return total
        try:
            for span_start, span_end in self._spans_from(start):
                if span_start >= end:
                    break
                total += min(span_end, end) - span_start
        except ClockStopped:
            pass
        return total

    def hours_between(self, start: datetime, end: datetime) -> float:
        return self.between(start, end).total_seconds() / 3600


class ClockStopped(ValueError):
    """The reply clock is stopped by an open-ended closed period: no due time yet."""


def _subtract(
    span: tuple[datetime, datetime], closed: Sequence[Interval]
) -> list[tuple[datetime, datetime]]:
    pieces = [span]
    for c_start, c_end in closed:
        next_pieces = []
        for p_start, p_end in pieces:
            stop = p_end if c_end is None else c_end
            if c_start >= p_end or stop <= p_start:
                next_pieces.append((p_start, p_end))
                continue
            if c_start > p_start:
                next_pieces.append((p_start, c_start))
            if stop < p_end:
                next_pieces.append((stop, p_end))
        pieces = next_pieces
    return pieces


def parse_instant(text: str, zone: Any) -> datetime:
    """An ISO-8601 timestamp; one without an offset is read as local time in ``zone``."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value
