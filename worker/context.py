"""What the web handlers and agents of one worker process share.

``create_app`` builds one ``WorkerContext`` and hands it to every part: the triage,
SLA and moderation agents fill in the views they own, the web app reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from records import Topics
from worker.clock import Clock, SystemClock
from worker.settings import Settings
from worker.sla.policy import SlaPolicy, load_sla_policy


@dataclass
class WorkerContext:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    # The faust App; typed loosely so that pure modules need not import faust.
    app: Any = None
    # Read-side views registered by each part, by name ("review", "sla", "ledger", ...).
    views: dict[str, Any] = field(default_factory=dict)
    ready: bool = False

    @property
    def topics(self) -> Topics:
        return self.settings.topics

    @cached_property
    def zone(self) -> ZoneInfo:
        """The council's time zone for dates and times shown or recorded: the policy's
        ``working_time.timezone``, as the reply clock uses (its default without a file)."""
        path = self.settings.policy
        return (load_sla_policy(path) if path.exists() else SlaPolicy()).working_time.zone
