"""What the web handlers and agents of one worker process share.

``create_app`` fills one ``WorkerContext``: it sets ``runtime`` (what the agents are built
with, worker/runtime.py), the triage, SLA and moderation parts fill in the ``views`` they
own, and the web app reads them. Every field is typed; a part that is not running leaves
its views ``None``.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from records import Topics
from records.topics import TopicSpec
from worker.clock import Clock, SystemClock
from worker.metrics import Metrics
from worker.runtime import Fatal, Runtime
from worker.settings import Settings
from worker.sla.policy import SlaPolicy, load_sla_policy

if TYPE_CHECKING:
    from worker.handling.part import HandlingSink
    from worker.handling.presence import PresenceBoard
    from worker.handling.reader import HandlingReader
    from worker.moderation.agent import Moderation
    from worker.moderation.policy import ModerationConfig
    from worker.moderation.review_view import ModerationState, TopicReader
    from worker.moderation.service import DecisionSink
    from worker.read_views import AuditReader, LedgerReader, ReviewReader, SlaReader
    from worker.replies.desk import ReplyDesk
    from worker.sla.agent import CaseKeeper
    from worker.triage import Triage
    from worker.users import UserStore

__all__ = ["Views", "WorkerContext"]


@dataclass
class Views:
    """The read side each part registers, read by the web app and the tools: the parts'
    in-memory views, or the database's (worker/db/views.py) where the app reads those."""

    # The moderation part (worker/moderation/agent.py), or the database.
    review: ReviewReader | None = None
    ledger: LedgerReader | None = None
    audit: AuditReader | None = None
    moderation_state: ModerationState | None = None
    moderation_config: ModerationConfig | None = None
    moderation_reader: TopicReader | None = None
    moderation: Moderation | None = None
    # Writes a decision to triage.decisions and waits for the broker.
    decision_sink: DecisionSink | None = None
    # The SLA part (worker/sla/agent.py), or the database.
    sla: SlaReader | None = None
    sla_keeper: CaseKeeper | None = None
    # The triage agent (worker/triage.py).
    triage: Triage | None = None
    # Replying from the tool (worker/replies/part.py).
    replies: ReplyDesk | None = None
    # Assignments and internal notes (worker/handling/): read, and written to
    # triage.handling; who has an item open now (the database's presence table).
    handling: HandlingReader | None = None
    handling_sink: HandlingSink | None = None
    presence: PresenceBoard | None = None
    # The officers' accounts, once the web app has loaded them.
    users: UserStore | None = None


@dataclass
class WorkerContext:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    # The faust App; typed loosely so that pure modules need not import faust.
    app: Any = None
    views: Views = field(default_factory=Views)
    ready: bool = False
    metrics: Metrics = field(default_factory=Metrics)
    # Set by a part that must stop the worker; create_app gives each App a fresh one.
    fatal: Fatal = field(default_factory=Fatal)
    # Built by create_app, or earlier by ``triage run`` to check retention first.
    topic_specs: dict[str, TopicSpec] | None = None
    runtime: Runtime | None = None
    # Where the officers' app listens, once it does.
    web_url: str | None = None
    # One decision at a time per worker, so that a double click cannot pass the checks twice.
    decision_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # faust's scratch directory for the in-memory store, removed with the context.
    scratch_dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def topics(self) -> Topics:
        return self.settings.topics

    @cached_property
    def zone(self) -> ZoneInfo:
        """The council's time zone for dates and times shown or recorded: the policy's
        ``working_time.timezone``, as the reply clock uses (its default without a file)."""
        path = self.settings.policy
        return (load_sla_policy(path) if path.exists() else SlaPolicy()).working_time.zone
