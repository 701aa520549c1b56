"""The morning digest: at 9:00 on each working day, one alert that sums up the queue.

It counts what waits in each lane (where the notifier runs inside the worker, which holds
the review view), and the deadlines missed and accounts blocked since the start of the
previous working day (Monday's covers Friday and the weekend). It is written to
``triage.alerts`` as an alert of kind ``daily_digest`` with the id ``digest-<date>``, and
sent from there like any alert, so it is committed, retried and dead-lettered the same
way; a notifier finds the day's digest already on the topic and writes no second one.
Counts only: it names no resident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from records.sla import Alert
from records.verdict import LANES
from worker.sla.worktime import WorkCalendar

__all__ = [
    "DIGEST_AT",
    "DIGEST_KIND",
    "DIGEST_UNTIL",
    "digest_alert",
    "digest_day",
    "digest_id",
    "window",
]

DIGEST_KIND = "daily_digest"
DIGEST_AT = time(9, 0)
# A notifier that was down at 9:00 still sends the morning's digest until noon, not later.
DIGEST_UNTIL = time(12, 0)


def digest_id(day: date) -> str:
    return f"digest-{day.isoformat()}"


def digest_day(now: datetime, calendar: WorkCalendar, at: time = DIGEST_AT) -> date | None:
    """Today's date in the council's zone from ``at`` until noon on a working day, else None."""
    local = now.astimezone(calendar.policy.zone)
    if not at <= local.time() < DIGEST_UNTIL or not calendar.is_working_day(local.date()):
        return None
    return local.date()


def window(day: date, calendar: WorkCalendar) -> tuple[datetime, datetime]:
    """From the start of the working day before ``day`` to the start of ``day`` (local)."""
    zone = calendar.policy.zone
    before = day - timedelta(days=1)
    for _ in range(30):  # a fortnight's closure at most, with room to spare
        if calendar.is_working_day(before):
            break
        before -= timedelta(days=1)
    return _midnight(before, zone), _midnight(day, zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def digest_alert(
    day: date,
    now: datetime,
    calendar: WorkCalendar,
    alerts: Iterable[Alert],
    waiting: Mapping[str, int] | None,
) -> Alert:
    """The digest for ``day``: ``waiting`` counts by lane (None: not known here), and the
    breaches and blocks among ``alerts`` in the :func:`window` (each alert id once)."""
    start, end = window(day, calendar)
    seen: dict[str, Alert] = {}
    for alert in alerts:
        if start <= alert.created_at < end:
            seen.setdefault(alert.id, alert)
    breaches = sum(1 for a in seen.values() if a.kind == "sla_breach")
    blocks = sum(1 for a in seen.values() if a.kind == "author_blocked")
    since = start.date()
    data: dict[str, str | int | float | bool | None] = {
        "day": day.isoformat(),
        "since": since.isoformat(),
        "breaches": breaches,
        "blocks": blocks,
    }
    parts = []
    if waiting is not None:
        total = 0
        for lane in LANES:
            count = int(waiting.get(lane, 0))
            data[f"waiting_{lane}"] = count
            total += count
        parts.append(f"{total} item{'s' if total != 1 else ''} wait for review.")
    parts.append(
        f"Since {since:%a %d %b}: {breaches} reply deadline{'s' if breaches != 1 else ''} "
        f"missed, {blocks} account{'s' if blocks != 1 else ''} blocked."
    )
    return Alert(
        id=digest_id(day),
        kind=DIGEST_KIND,
        severity="info",
        subject=digest_id(day),
        message=" ".join(parts),
        created_at=now,
        data=data,
    )
