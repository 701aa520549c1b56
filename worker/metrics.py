"""Every metric the worker exports, declared once, in a registry of its own per app.

A private ``CollectorRegistry`` per worker keeps tests that build several apps in one
process apart; ``/metrics`` (worker/web/ops.py) renders it in the Prometheus text format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from records import CATEGORIES

__all__ = ["LATENCY_BUCKETS", "Metrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    """The worker's metrics; the SLA agent sets ``open_cases`` and ``breached_cases``."""

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
            "triage_open_cases", "Conversations awaiting a council reply", registry=reg
        )
        self.breached_cases = Gauge(
            "triage_breached_cases", "Open conversations past their reply deadline", registry=reg
        )
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
