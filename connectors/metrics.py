"""Connector metrics, declared once, in a registry of their own (not the process default)."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

# Why an event or request was turned away; one label value each.
RejectReason = Literal[
    "signature", "stale", "too_large", "malformed", "buffer_full", "spool_error", "verify_token"
]
# What became of an event the platform sent or returned.
EventOutcome = Literal["accepted", "duplicate", "ignored"]
# What became of a hide or delete the actions process was asked to carry out.
ActionOutcome = Literal["done", "failed", "unsupported"]
# What became of a reply an officer sent from the tool.
ReplyOutcome = Literal["sent", "failed"]


class ConnectorMetrics:
    """Counters and gauges for one connector process; ``render()`` gives the text format."""

    def __init__(self, connector: str) -> None:
        self.connector = connector
        self.registry = CollectorRegistry(auto_describe=True)
        self._events = Counter(
            "connector_events_total",
            "Events seen, by outcome",
            ["connector", "outcome"],
            registry=self.registry,
        )
        self._rejected = Counter(
            "connector_rejected_total",
            "Requests or events refused, by reason",
            ["connector", "reason"],
            registry=self.registry,
        )
        self._produced = Counter(
            "connector_produced_total",
            "Comments confirmed written to Kafka",
            ["connector"],
            registry=self.registry,
        )
        self._produce_errors = Counter(
            "connector_produce_errors_total",
            "Failed attempts to write to Kafka (each is retried)",
            ["connector"],
            registry=self.registry,
        )
        self._http_retries = Counter(
            "connector_http_retries_total",
            "Platform requests retried after a timeout, 5xx or 429",
            ["connector", "cause"],
            registry=self.registry,
        )
        self._actions = Counter(
            "connector_actions_total",
            "Hides and deletes carried out on a platform, by platform and outcome",
            ["connector", "platform", "outcome"],
            registry=self.registry,
        )
        self._replies = Counter(
            "connector_replies_total",
            "Officers' replies posted on a platform, or failed, by platform",
            ["connector", "platform", "outcome"],
            registry=self.registry,
        )
        self._buffered = Gauge(
            "connector_buffered",
            "Comments accepted and not yet confirmed by Kafka",
            ["connector"],
            registry=self.registry,
        )
        self._capacity = Gauge(
            "connector_buffer_capacity",
            "Comments the buffer holds at most (TRIAGE_CONNECTOR_BUFFER)",
            ["connector"],
            registry=self.registry,
        )
        self._last_poll = Gauge(
            "connector_last_success_timestamp_seconds",
            "When the platform last answered a poll or sent a valid event",
            ["connector"],
            registry=self.registry,
        )

    def event(self, outcome: EventOutcome, count: int = 1) -> None:
        self._events.labels(self.connector, outcome).inc(count)

    def rejected(self, reason: RejectReason) -> None:
        self._rejected.labels(self.connector, reason).inc()

    def produced(self, count: int = 1) -> None:
        self._produced.labels(self.connector).inc(count)

    def produce_error(self) -> None:
        self._produce_errors.labels(self.connector).inc()

    def http_retry(self, cause: Literal["timeout", "server_error", "rate_limited"]) -> None:
        self._http_retries.labels(self.connector, cause).inc()

    def action(self, platform: str, outcome: ActionOutcome) -> None:
        self._actions.labels(self.connector, platform, outcome).inc()

    def reply(self, platform: str, outcome: ReplyOutcome) -> None:
        self._replies.labels(self.connector, platform, outcome).inc()

    def buffered(self, size: int) -> None:
        self._buffered.labels(self.connector).set(size)

    def capacity(self, size: int) -> None:
        self._capacity.labels(self.connector).set(size)

    def success(self, when: float) -> None:
        self._last_poll.labels(self.connector).set(when)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when never set): for health pages and tests."""
        found = self.registry.get_sample_value(name, {"connector": self.connector, **labels})
        return found or 0.0

    def render(self) -> bytes:
        data: bytes = generate_latest(self.registry)
        return data
