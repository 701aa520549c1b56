"""The gauges worked out when Prometheus scrapes: readiness, the review queue by lane and
the working time since the last comment.

PromQL knows neither the council's time zone nor its bank holidays, so "no comment for N
working hours" is measured here with the reply clock's calendar (worker/sla/worktime.py)
and exported in seconds; the rule compares the least over the replicas with N hours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from worker.context import Views, WorkerContext
from worker.sla.policy import SlaPolicy
from worker.sla.worktime import WorkCalendar

__all__ = ["QUEUE_OWNER_PARTITION", "install", "queue_counts", "worktime_since_last_comment"]

QUEUE_OWNER_PARTITION = 0
"""The worker owning this partition of triage.verdicts reports the queue (every worker
holds the whole queue; one reporting it keeps the sum over the replicas right)."""


def install(ctx: WorkerContext) -> None:
    """Point the scrape-time gauges of ``ctx.metrics`` at the context's views."""
    metrics = ctx.metrics
    metrics.ready.set_function(lambda: 1.0 if ctx.ready and ctx.fatal.error is None else 0.0)
    metrics.worktime_since_comment.set_function(lambda: worktime_since_last_comment(ctx))
    metrics.queue.counts = lambda: queue_counts(ctx.views)


def queue_counts(views: Views) -> Mapping[str, int] | None:
    """Open review items by lane when this worker is the queue's reporter, else None."""
    keeper, review = views.sla_keeper, views.review
    if keeper is None or review is None or QUEUE_OWNER_PARTITION not in keeper.owned:
        return None
    return Counter(item.lane for item in review.items(status="open"))


def worktime_since_last_comment(ctx: WorkerContext) -> float:
    """Seconds of office hours since this worker's triage agent last read a comment (or
    since it started); 0 while the triage part is not running."""
    triage = ctx.views.triage
    if triage is None:
        return 0.0
    sla = ctx.views.sla
    # Office hours without the emergency pause: a quiet feed matters in an emergency too.
    calendar = sla.rules.office if sla is not None else WorkCalendar(SlaPolicy().working_time)
    return calendar.between(triage.last_comment_at, ctx.clock.now()).total_seconds()
