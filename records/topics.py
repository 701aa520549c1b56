"""Topic names, in one place, with the configurable prefix, and each topic's settings.

:data:`TABLE` is the one list of every topic the product uses: its cleanup policy and
which retention period of the policy file (records/retention.py) it keeps its data for.
The worker and the connectors create topics with :meth:`TopicSpec.configs`; the worker
checks existing topics against the same table at start (worker/retention.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from records.retention import RetentionPolicy

__all__ = ["DAY_MS", "PERIOD_KEYS", "TABLE", "Cleanup", "Period", "Row", "TopicSpec", "Topics"]

DAY_MS = 24 * 60 * 60 * 1000

Cleanup = Literal["delete", "compact", "compact,delete"]
Period = Literal["comments", "review_items", "decisions", "audit", "labels"]

# Where each period is set in the policy file (for messages to operators).
PERIOD_KEYS: dict[Period, str] = {
    "comments": "retention.comments_days",
    "review_items": "retention.review_items_days",
    "decisions": "retention.decisions_days",
    "audit": "moderation.audit_retention_days",
    "labels": "retention.labels_days",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One topic: its name, cleanup, period (None: kept until replaced), whether a
    deletion sooner than that would lose what the council keeps (``records``), and the
    name of its record's JSON Schema in docs/schemas/ (``<schema>.schema.json``)."""

    base: str
    cleanup: Cleanup
    period: Period | None
    records: bool
    schema: str
    single_partition: bool = False


TABLE: tuple[Row, ...] = (
    Row("social.comments", "delete", "comments", records=False, schema="comment"),
    Row("triage.verdicts", "delete", "comments", records=False, schema="triage-result"),
    Row("triage.review", "compact,delete", "review_items", records=True, schema="review-item"),
    Row("triage.decisions", "delete", "decisions", records=True, schema="decision"),
    # Moderation's part of each review item (advice, closure), kept as long as the item.
    Row(
        "triage.moderation",
        "compact,delete",
        "review_items",
        records=True,
        schema="item-moderation",
    ),
    Row("triage.cases", "compact", None, records=True, schema="case"),
    Row("triage.alerts", "delete", "comments", records=False, schema="alert"),
    Row("triage.audit", "delete", "audit", records=True, schema="audit-record"),
    Row("triage.labels", "delete", "labels", records=True, schema="label-example"),
    Row("triage.deadletter", "delete", "comments", records=False, schema="dead-letter"),
    Row("triage.sla-events", "delete", "comments", records=False, schema="sla-event"),
    Row("triage.sla-state", "compact", None, records=True, schema="sla-state"),
    # The erasure list (records/privacy.py): one record per person, kept until replaced.
    Row("triage.erasures", "compact", None, records=True, schema="erasure"),
    # Replies sent from the tool (records/reply.py): who asked, who approved, what was sent.
    Row("triage.reply-requests", "delete", "decisions", records=True, schema="reply-request"),
    Row("triage.reply-outcomes", "delete", "decisions", records=True, schema="reply-outcome"),
    # Assignments and internal notes (records/handling.py), kept as long as the decisions.
    Row("triage.handling", "delete", "decisions", records=True, schema="handling-record"),
    # Every switch has its own key, so compaction keeps the whole history.
    Row(
        "triage.emergency",
        "compact",
        None,
        records=True,
        schema="emergency-change",
        single_partition=True,
    ),
)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic's full name and settings, with its period taken from the policy."""

    name: str
    cleanup: Cleanup
    retention_days: int | None
    period_key: str | None
    records: bool
    single_partition: bool

    @property
    def retention_ms(self) -> int:
        """Kafka's ``retention.ms``: -1 keeps data until compaction replaces it."""
        return -1 if self.retention_days is None else self.retention_days * DAY_MS

    @property
    def compacted(self) -> bool:
        return "compact" in self.cleanup

    def configs(self) -> dict[str, str]:
        """The settings to create the topic with (CreateTopics takes strings)."""
        return {"cleanup.policy": self.cleanup, "retention.ms": str(self.retention_ms)}


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = ""

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def comments(self) -> str:
        return self._name("social.comments")

    @property
    def verdicts(self) -> str:
        return self._name("triage.verdicts")

    @property
    def review(self) -> str:
        return self._name("triage.review")

    @property
    def decisions(self) -> str:
        return self._name("triage.decisions")

    @property
    def moderation(self) -> str:
        # Written by the moderation agent only, keyed by review item id.
        return self._name("triage.moderation")

    @property
    def cases(self) -> str:
        return self._name("triage.cases")

    @property
    def alerts(self) -> str:
        return self._name("triage.alerts")

    @property
    def audit(self) -> str:
        return self._name("triage.audit")

    @property
    def labels(self) -> str:
        return self._name("triage.labels")

    @property
    def deadletter(self) -> str:
        return self._name("triage.deadletter")

    @property
    def sla_events(self) -> str:
        # Reply decisions re-keyed by conversation, and the SLA timer's ticks.
        return self._name("triage.sla-events")

    @property
    def sla_state(self) -> str:
        return self._name("triage.sla-state")

    @property
    def emergency(self) -> str:
        # Emergency-mode switches: one partition, read whole by every worker.
        return self._name("triage.emergency")

    @property
    def erasures(self) -> str:
        # Who has been erased: applied by the projector on every fold and rebuild.
        return self._name("triage.erasures")

    @property
    def reply_requests(self) -> str:
        # Written by the officers' app and API only, keyed by reply id.
        return self._name("triage.reply-requests")

    @property
    def reply_outcomes(self) -> str:
        # Written by `triage connect actions` only, keyed by reply id.
        return self._name("triage.reply-outcomes")

    @property
    def handling(self) -> str:
        # Written by the officers' app and API only, keyed by review item id.
        return self._name("triage.handling")

    def all(self) -> tuple[str, ...]:
        """Every topic of :data:`TABLE`, with the prefix."""
        return tuple(self._name(row.base) for row in TABLE)

    def specs(self, retention: RetentionPolicy) -> dict[str, TopicSpec]:
        """Every topic of :data:`TABLE` by full name, with the policy's periods."""
        days: dict[Period, int] = {
            "comments": retention.comments_days,
            "review_items": retention.review_items_days,
            "decisions": retention.decisions_days,
            "audit": retention.audit_days,
            "labels": retention.labels_days,
        }
        out = {}
        for row in TABLE:
            name = self._name(row.base)
            out[name] = TopicSpec(
                name=name,
                cleanup=row.cleanup,
                retention_days=None if row.period is None else days[row.period],
                period_key=None if row.period is None else PERIOD_KEYS[row.period],
                records=row.records,
                single_partition=row.single_partition,
            )
        return out
