"""Topic names, in one place, with the configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass


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
    def emergency(self) -> str:
        # Emergency-mode switches: read whole by every worker, so not in ``all()``'s
        # per-partition set of agent topics.
        return self._name("triage.emergency")

    def all(self) -> tuple[str, ...]:
        return (
            self.comments,
            self.verdicts,
            self.review,
            self.decisions,
            self.cases,
            self.alerts,
            self.audit,
            self.labels,
            self.deadletter,
        )
