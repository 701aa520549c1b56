"""Every metric the worker exports, declared once, in a registry of its own per app.

A private ``CollectorRegistry`` per worker keeps tests that build several apps in one
process apart; ``/metrics`` (worker/web/ops.py) renders it in the Prometheus text format.

Gauges that describe the whole system are reported so that summing over the replicas
is right: the case counts by each worker for the partitions it owns, the review queue
by the one worker that owns partition 0 (the others report 0). The rules and the
dashboard in deploy/ use only the names declared here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from records import CATEGORIES
from records.verdict import LANES

__all__ = ["LATENCY_BUCKETS", "Metrics", "QueueCounts"]

QueueCounts = Callable[[], Mapping[str, int] | None]
"""Open review items by lane, or None when this worker does not report them."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    """The worker's metrics; the SLA agent sets ``open_cases`` and ``breached_cases``,
    worker/gauges.py the ones worked out when scraped."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        reg = self.registry
        self.comments_processed = Counter(
            "triage_comments_processed",
            "Comments read from social.comments and written to triage.verdicts",
            ["kind"],  # resident / council
            registry=reg,
        )
        self.flagged = Counter(
            "triage_flagged", "Comments given a label, by category", ["category"], registry=reg
        )
        self.review_items = Counter(
            "triage_review_items", "Review items written, by lane", ["lane"], registry=reg
        )
        self.dead_letters = Counter(
            "triage_dead_letters",
            "Records sent to the dead-letter topic, by the agent that refused them",
            ["agent"],
            registry=reg,
        )
        self.classify_seconds = Histogram(
            "triage_classify_seconds",
            "Time to classify one batch",
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.batch_size = Histogram(
            "triage_batch_size",
            "Comments per classified batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=reg,
        )
        self.consumer_lag = Gauge(
            "triage_consumer_lag",
            "Records on social.comments not yet processed, by partition",
            ["partition"],
            registry=reg,
        )
        self.open_cases = Gauge(
            "triage_open_cases",
            "Conversations awaiting a council reply, on the partitions this worker owns",
            registry=reg,
        )
        self.breached_cases = Gauge(
            "triage_breached_cases",
            "Open conversations past their reply deadline, on the partitions this worker owns",
            registry=reg,
        )
        self.ready = Gauge(
            "triage_ready", "1 once the worker has its partitions and topics, else 0", registry=reg
        )
        self.started = Gauge(
            "triage_start_time_seconds", "When this worker process started", registry=reg
        )
        self.started.set_to_current_time()
        self.breaker_invalid = Gauge(
            "triage_breaker_invalid",
            "Invalid records among the breaker's recent window, by agent",
            ["agent"],
            registry=reg,
        )
        self.breaker_limit = Gauge(
            "triage_breaker_limit",
            "Invalid records in the window at which the breaker stops the worker, by agent",
            ["agent"],
            registry=reg,
        )
        # Set by worker/gauges.py to a function read at each scrape.
        self.worktime_since_comment = Gauge(
            "triage_worktime_since_last_comment_seconds",
            "Office-hours time (policy's time zone, less bank holidays) since this worker "
            "last read a comment, or since it started",
            registry=reg,
        )
        self.queue = _Queue()
        reg.register(self.queue)
        # The notifier (worker/notify/): messages by channel (email, slack, teams).
        self.notifications_sent = Counter(
            "triage_notifications_sent",
            "Notifications delivered, by channel",
            ["channel"],
            registry=reg,
        )
        self.notifications_failed = Counter(
            "triage_notifications_failed",
            "Notifications given up (refused, or out of retries), by channel",
            ["channel"],
            registry=reg,
        )
        self.notifications_retried = Counter(
            "triage_notifications_retried",
            "Notification attempts that failed and were tried again, by channel",
            ["channel"],
            registry=reg,
        )
        for category in CATEGORIES:
            self.flagged.labels(category=category)

    def render(self) -> bytes:
        text: bytes = generate_latest(self.registry)
        return text


class _Queue:
    """``triage_review_queue``: open review items by lane, counted when scraped."""

    def __init__(self) -> None:
        self.counts: QueueCounts = lambda: None

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "triage_review_queue",
            "Open review items by lane (from the worker owning partition 0; the others give 0)",
            labels=["lane"],
        )
        counts = self.counts() or {}
        for lane in LANES:
            family.add_metric([lane], counts.get(lane, 0))
        yield family
