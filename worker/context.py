"""What the web handlers and agents of one worker process share.

``create_app`` builds one ``WorkerContext`` and hands it to every part: the triage,
SLA and moderation agents fill in the views they own, the web app reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from records import Topics
from worker.clock import Clock, SystemClock
from worker.settings import Settings


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
