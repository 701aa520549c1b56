"""The gauges worked out at scrape time (worker/gauges.py), without a broker."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from prometheus_client.parser import text_string_to_metric_families

from worker.clock import ManualClock
from worker.context import WorkerContext
from worker.gauges import install, queue_counts, worktime_since_last_comment
from worker.settings import Settings
from worker.sla.policy import SlaPolicy
from worker.sla.view import SlaView

LONDON = ZoneInfo("Europe/London")


def samples(ctx: WorkerContext, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = ctx.metrics.render().decode()
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def context(now: datetime) -> WorkerContext:
    ctx = WorkerContext(settings=Settings(broker="kafka://x:1"), clock=ManualClock(now))
    ctx.views.sla = SlaView(SlaPolicy())
    install(ctx)
    return ctx


def test_time_since_the_last_comment_counts_office_hours_only():
    """From 16:00 on a Friday to 10:00 on the Monday is two working hours, not 66."""
    ctx = context(datetime(2026, 3, 9, 10, 0, tzinfo=LONDON))
    ctx.views.triage = SimpleNamespace(last_comment_at=datetime(2026, 3, 6, 16, 0, tzinfo=LONDON))  # type: ignore[assignment]
    assert worktime_since_last_comment(ctx) == 2 * 3600
    assert samples(ctx, "triage_worktime_since_last_comment_seconds") == {(): 7200.0}


def test_a_bank_holiday_adds_no_working_time():
    """Good Friday 2026 (3 April) is closed: Thursday 17:00 to Tuesday 09:00 is none."""
    ctx = context(datetime(2026, 4, 7, 9, 0, tzinfo=LONDON))
    ctx.views.triage = SimpleNamespace(last_comment_at=datetime(2026, 4, 2, 17, 0, tzinfo=LONDON))  # type: ignore[assignment]
    assert worktime_since_last_comment(ctx) == 0


def test_the_queue_is_reported_by_the_owner_of_partition_0_only():
    """The worker owning partition 0 gives the open items per lane; another gives zeros."""
    items = [SimpleNamespace(lane=lane) for lane in ("urgent", "response", "response")]
    review = SimpleNamespace(items=lambda lane=None, status="open": items)
    ctx = context(datetime(2026, 3, 9, 10, 0, tzinfo=LONDON))
    ctx.views.review = review  # type: ignore[assignment]
    ctx.views.sla_keeper = SimpleNamespace(owned={0, 2})  # type: ignore[assignment]
    assert queue_counts(ctx.views) == {"urgent": 1, "response": 2}
    got = samples(ctx, "triage_review_queue")
    assert got == {
        (("lane", "urgent"),): 1.0,
        (("lane", "response"),): 2.0,
        (("lane", "moderation"),): 0.0,
    }
    ctx.views.sla_keeper = SimpleNamespace(owned={1, 3})  # type: ignore[assignment]
    assert queue_counts(ctx.views) is None
    assert set(samples(ctx, "triage_review_queue").values()) == {0.0}


def test_ready_follows_the_context_and_the_fatal_flag():
    """triage_ready is 0 while starting, 1 once ready, and 0 again after a fatal error."""
    ctx = context(datetime(2026, 3, 9, 10, 0, tzinfo=LONDON))
    assert samples(ctx, "triage_ready") == {(): 0.0}
    ctx.ready = True
    assert samples(ctx, "triage_ready") == {(): 1.0}
    ctx.fatal.set(RuntimeError("boom"), "test")
    assert samples(ctx, "triage_ready") == {(): 0.0}
