"""Emergency mode as a pure fold of the operators' on/off switches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from records.sla import EmergencyChange
from worker.sla.worktime import Interval

__all__ = ["EmergencyState"]


@dataclass(frozen=True)
class EmergencyState:
    """The switches in time order; ``periods`` are the spans when the mode was on."""

    changes: tuple[EmergencyChange, ...] = ()

    @classmethod
    def of(cls, changes: Iterable[EmergencyChange]) -> EmergencyState:
        unique = {change.id: change for change in changes}
        return cls(tuple(sorted(unique.values(), key=lambda c: (c.at, c.id))))

    def add(self, change: EmergencyChange) -> EmergencyState:
        return EmergencyState.of((*self.changes, change))

    @property
    def periods(self) -> tuple[Interval, ...]:
        spans: list[Interval] = []
        started: datetime | None = None
        for change in self.changes:
            if change.active and started is None:
                started = change.at
            elif not change.active and started is not None:
                spans.append((started, change.at))
                started = None
        if started is not None:
            spans.append((started, None))
        return tuple(spans)

    @property
    def latest(self) -> EmergencyChange | None:
        return self.changes[-1] if self.changes else None

    @property
    def active(self) -> bool:
        periods = self.periods
        return bool(periods) and periods[-1][1] is None

    def active_at(self, instant: datetime) -> bool:
        return any(
            start <= instant and (end is None or instant < end) for start, end in self.periods
        )
