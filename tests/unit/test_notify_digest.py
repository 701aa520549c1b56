"""The morning digest's pure part: when it is due, what it covers, what it says."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from records.sla import Alert
from worker.notify.compose import compose
from worker.notify.config import NotificationsPolicy, NotifySettings, recipients
from worker.notify.digest import digest_alert, digest_day, window
from worker.sla.policy import WorkingTimePolicy
from worker.sla.worktime import WorkCalendar

CALENDAR = WorkCalendar(WorkingTimePolicy())
ZONE = CALENDAR.policy.zone


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZONE)  # type: ignore[misc]


def alert(kind: str, at: datetime, n: int = 0) -> Alert:
    return Alert(
        id=f"{kind}-{n}", kind=kind, severity="warning", subject="s", message="m", created_at=at
    )


def test_due_at_nine_on_working_days_only():
    """The digest is due from 9:00 local until noon on a working day; not before or after,
    not at weekends or on a bank holiday."""
    assert digest_day(local(2026, 12, 1, 8, 59), CALENDAR) is None
    assert digest_day(local(2026, 12, 1, 9, 0), CALENDAR) == date(2026, 12, 1)
    assert digest_day(local(2026, 12, 1, 12, 0), CALENDAR) is None
    assert digest_day(local(2026, 12, 5, 9, 30), CALENDAR) is None  # a Saturday
    assert digest_day(local(2026, 12, 25, 9, 30), CALENDAR) is None  # Christmas Day


def test_nine_is_local_time_in_summer():
    """At 08:30 UTC in June it is 09:30 in London: the digest is due."""
    assert digest_day(datetime(2026, 6, 2, 8, 30, tzinfo=UTC), CALENDAR) == date(2026, 6, 2)


def test_mondays_digest_covers_friday_and_the_weekend():
    """Monday's window starts at Friday's midnight and ends at Monday's."""
    start, end = window(date(2026, 11, 30), CALENDAR)
    assert (start, end) == (local(2026, 11, 27, 0, 0), local(2026, 11, 30, 0, 0))


def test_digest_counts_breaches_and_blocks_in_the_window_once_each():
    """Breaches and blocks inside the window count once per alert id; older ones do not."""
    tuesday = date(2026, 12, 1)
    monday = local(2026, 11, 30, 15, 0)
    alerts = [
        alert("sla_breach", monday, 1),
        alert("sla_breach", monday, 1),  # the same alert, written twice
        alert("sla_breach", monday + timedelta(hours=1), 2),
        alert("author_blocked", monday, 3),
        alert("sla_breach", local(2026, 11, 27, 10, 0), 4),  # Friday: before the window
        alert("sla_at_risk", monday, 5),
    ]
    now = local(2026, 12, 1, 9, 0)
    got = digest_alert(tuesday, now, CALENDAR, alerts, {"response": 3, "urgent": 1})
    assert got.id == "digest-2026-12-01"
    assert got.data["breaches"] == 2
    assert got.data["blocks"] == 1
    assert got.data["waiting_response"] == 3
    assert got.data["waiting_moderation"] == 0
    assert got.message == (
        "4 items wait for review. Since Mon 30 Nov: 2 reply deadlines missed, 1 account blocked."
    )


def test_digest_without_the_queue_says_nothing_of_it():
    """Where the notifier has no review view, the digest leaves the waiting counts out."""
    got = digest_alert(date(2026, 12, 1), local(2026, 12, 1, 9, 0), CALENDAR, [], None)
    assert not [k for k in got.data if k.startswith("waiting_")]
    assert got.message.startswith("Since Mon 30 Nov: 0 reply deadlines missed")


def test_digest_goes_to_officers_and_the_communications_manager():
    """The digest is mailed to the officers and the Communications Manager and posted to
    chat, with a fact per lane and the two counts."""
    policy = NotificationsPolicy(
        officers=("o@council.example",), comms_manager=("c@council.example",)
    )
    digest = digest_alert(
        date(2026, 12, 1), local(2026, 12, 1, 9, 0), CALENDAR, [], {"response": 2}
    )
    messages = compose(
        digest,
        recipients=recipients(policy, NotifySettings()),
        channels=("email", "slack"),
        policy=policy,
        zone=ZONE,
    )
    assert {(m.channel, m.role) for m in messages} == {
        ("email", "officers"),
        ("email", "comms_manager"),
        ("slack", "chat"),
    }
    facts = dict(messages[0].facts)
    assert facts["Waiting: response lane"] == "2"
    assert facts["Deadlines missed since Mon 30 Nov 2026"] == "0"
