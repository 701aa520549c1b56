"""The SLA part of the worker: cases per conversation, deadline alerts, the SLA view.

Agents (all keyed by conversation key, co-partitioned with ``triage.verdicts``):

- ``sla-verdicts`` reads ``triage.verdicts``: residents' comments and council replies.
- ``sla-decisions`` reads ``triage.decisions`` (keyed by review item id) and forwards the
  decisions that end a wait for a reply to the internal ``triage.sla-events`` topic,
  keyed by the decision's conversation key (a repartition).
- ``sla-events`` reads ``triage.sla-events``: forwarded decisions, and ticks from the timer.

Each conversation's events and the ids of the alerts already sent are kept on the
compacted ``triage.sla-state`` topic (worker/sla/store.py), so after a restart or a
rebalance the new owner knows what was sent.
Alerts go out before the state records them, with ids derived from the case and kind:
a crash in between can repeat an alert, never lose one, and the repeat has the same id.

The timer changes no state itself: it finds this worker's conversations that need an
alert or a new due time and sends them a tick, handled in order with their events.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import structlog
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict

from records import InvalidRecord, ReviewItem, TriageResult, decode, encode
from records.admin import ensure_topic
from records.moderation import Decision
from records.sla import Case
from worker.deadletter import Breaker, DeadLetters, ReaderDeadLetters, decode_or_dead_letter
from worker.runtime import Runtime, stops_worker, topic_options
from worker.settings import Settings
from worker.sla.cases import (
    CaseEvent,
    Conversation,
    alerts_due,
    event_from_decision,
    event_from_result,
    next_alert_at,
)
from worker.sla.feeds import follow_topic
from worker.sla.policy import SlaPolicy, load_sla_policy
from worker.sla.store import StateStore, Stored
from worker.sla.view import SlaView

if TYPE_CHECKING:
    from worker.context import WorkerContext

__all__ = [
    "FEED_RETRY_S",
    "SCAN_INTERVAL_S",
    "SYNC_TIMEOUT_S",
    "TICK_RETRY_S",
    "CaseKeeper",
    "SlaMessage",
    "load_policy",
    "register",
    "run_readers",
]

log = structlog.get_logger(__name__)

SCAN_INTERVAL_S = 1.0
"""How often the timer looks for due alerts (cheap: it reads the state in memory)."""
SYNC_TIMEOUT_S = 30.0
"""The longest a rebalanced worker waits for the state reader before acting anyway."""

FEED_RETRY_S = 5.0
"""Pause before the state readers start again after a broker error."""

TICK_RETRY_S = 5.0
"""A conversation already sent a tick is not sent another for this long."""


class SlaMessage(BaseModel):
    """On the internal ``triage.sla-events`` topic: a forwarded decision, or a timer tick."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["decision", "tick"]
    decision: Decision | None = None


def load_policy(settings: Settings) -> SlaPolicy:
    path = settings.policy
    if not path.exists():
        log.warning("policy file not found: reply tracking uses the default office hours")
        return SlaPolicy()
    return load_sla_policy(path)  # a broken policy stops the worker with PolicyError


def _digest(case: Case) -> str:
    return hashlib.sha256(case.model_dump_json().encode()).hexdigest()[:16]


class CaseKeeper:
    """Applies events to conversations and publishes cases, review items and alerts."""

    def __init__(
        self,
        rt: Runtime,
        store: StateStore,
        topics: tuple[Any, Any],
        view: SlaView,
    ) -> None:
        self.rt = rt
        self.store = store
        self.events_topic, self.state_topic = topics
        self.view = view
        self.channels = rt.channels
        self.dead = DeadLetters(rt, agent="sla")
        self.breaker = Breaker.from_settings(rt.settings)
        # One conversation update at a time: two agents share the state.
        self._lock = asyncio.Lock()
        self._ticked: dict[str, tuple[float, int]] = {}
        self._next: dict[str, tuple[int, int, list[datetime | None] | None]] = {}
        self._synced: asyncio.Event | None = None
        self._resync: asyncio.Task[None] | None = None
        self.scans = 0

    @property
    def synced(self) -> asyncio.Event:
        """Clear from a rebalance until the state reader has caught up with the topic."""
        if self._synced is None:
            self._synced = asyncio.Event()
            self._synced.set()
        return self._synced

    def on_rebalanced(self) -> None:
        """Partitions moved: act again only once the previous owner's last states are read.

        Without this barrier, a conversation taken over within the reader's poll interval
        of its last update could be handled from the older copy and repeat an alert.
        """
        self.synced.clear()
        if self._resync is not None:
            self._resync.cancel()
        self._resync = asyncio.ensure_future(self._sync())

    async def _sync(self) -> None:
        await self.store.ready.wait()
        if not await self.store.sync(SYNC_TIMEOUT_S):
            log.warning("sla state reader behind after a rebalance; going on", s=SYNC_TIMEOUT_S)
        self.synced.set()

    async def handle(self, key: str, event: CaseEvent | None, partition: int) -> None:
        """Add ``event`` (None: just re-check) to the conversation and publish what changed."""
        await self.store.ready.wait()
        await self.synced.wait()
        async with self._lock:
            stored = self.store.get(key) or Stored(
                partition=partition, conversation=Conversation(key=key)
            )
            conversation = stored.conversation
            if event is not None:
                conversation = conversation.with_event(event)
            rules = self.view.rules
            now = self.rt.clock.now()
            cases = conversation.cases(rules)
            alerts = [alert for case in cases for alert in alerts_due(case, rules, now)]
            pending = []
            for alert in alerts:
                pending.append(
                    await self.channels.alerts.send(key=alert.id.encode(), value=encode(alert))
                )
                log.info("sla alert", kind=alert.kind, case_id=alert.data.get("case_id"))
            if alerts:
                # The alerts must be on the broker before the state says they were sent.
                await asyncio.gather(*pending)
                pending = []
                conversation = conversation.with_alerts(a.id for a in alerts)
                cases = conversation.cases(rules)
            published = dict(stored.published)
            for case in cases:
                digest = _digest(case)
                if published.get(case.id) == digest:
                    continue
                pending.append(
                    await self.channels.cases.send(key=case.id.encode(), value=encode(case))
                )
                item = self._review_item(case, conversation)
                if item is not None:
                    pending.append(
                        await self.channels.review.send(key=item.id.encode(), value=encode(item))
                    )
                published[case.id] = digest
                self.view.apply_case(case)
            updated = Stored(
                seq=stored.seq + 1,
                partition=partition,
                conversation=conversation,
                published=published,
            )
            if updated.model_copy(update={"seq": stored.seq}) != stored:
                self.store.put(key, updated)
                pending.append(
                    await self.state_topic.send(
                        key=key.encode(), value=updated.model_dump_json().encode()
                    )
                )
            await asyncio.gather(*pending)

    @staticmethod
    def _review_item(case: Case, conversation: Conversation) -> ReviewItem | None:
        opening = conversation.opening_event(case)
        if opening is None or opening.comment is None:
            return None
        return ReviewItem(
            id=case.item_id,
            lane="response",
            status="open" if case.status == "open" else "closed",
            comment=opening.comment,
            verdict=opening.verdict,
            created_at=case.received_at,
            due_at=case.due_at,
            note=(
                f"reply case closed: {case.closed_by}"
                if case.closed_by is not None
                else case.suggested_reply or ""
            ),
        )

    # Agents' bodies

    async def on_verdict(self, event: Any) -> None:
        result = await decode_or_dead_letter(event, TriageResult, self.dead, self.breaker)
        if result is None:
            return
        case_event = event_from_result(result)
        await self.handle(result.comment.conversation_key, case_event, event.message.partition)

    async def on_decision(self, event: Any) -> Any:
        """Forward a reply-ending decision to its conversation's partition."""
        try:
            decision = decode(event.message.value, Decision)
        except InvalidRecord as exc:
            # The moderation part dead-letters bad decisions; saying so once here is enough.
            log.warning("unreadable decision ignored by reply tracking", reason=exc.reason)
            return None
        if event_from_decision(decision) is None:
            return None
        if not decision.conversation_key:
            log.warning(
                "reply decision without a conversation key ignored", decision_id=decision.id
            )
            return None
        message = SlaMessage(kind="decision", decision=decision)
        return await self.events_topic.send(
            key=decision.conversation_key.encode(), value=message.model_dump_json().encode()
        )

    async def on_sla_event(self, event: Any) -> None:
        key = event.message.key
        try:
            key_text = key.decode("utf-8") if isinstance(key, bytes) else str(key or "")
        except UnicodeDecodeError:
            key_text = ""
        if not key_text:
            await (await self.dead.send(event, "sla event without a conversation key"))
            return
        message = await decode_or_dead_letter(event, SlaMessage, self.dead, self.breaker)
        if message is None:
            return
        case_event = None
        if message.kind == "decision" and message.decision is not None:
            case_event = event_from_decision(message.decision)
        await self.handle(key_text, case_event, event.message.partition)

    # Timer

    def _active_partitions(self) -> set[int] | None:
        app = self.rt.app
        try:
            actives = app.assignor.assigned_actives()
        except AttributeError:  # no faust App (yet): nothing is known about assignment
            return None
        verdicts = self.channels.verdicts.get_topic_name()
        return {tp.partition for tp in actives if tp.topic == verdicts}

    async def scan(self) -> None:
        """Send a tick to every local conversation whose alert is due or whose rules changed."""
        self.scans += 1
        now = self.rt.clock.now()
        self.update_metrics()
        partitions = self._active_partitions()
        if not partitions or not self.store.ready.is_set() or not self.synced.is_set():
            return
        version = self.view.rules_version
        monotonic = time.monotonic()
        for key, stored in self.store.items():
            if stored.partition not in partitions:
                continue
            upcoming = self._upcoming(key, stored, version)
            if upcoming is None:
                continue
            last = self._ticked.get(key)
            rules_changed = last is None or last[1] != version
            due = any(at is not None and at <= now for at in upcoming)
            if not (due or (rules_changed and version > 0)):
                continue
            if last is not None and monotonic - last[0] < TICK_RETRY_S and not rules_changed:
                continue
            self._ticked[key] = (monotonic, version)
            await self.events_topic.send(
                key=key.encode(), value=SlaMessage(kind="tick").model_dump_json().encode()
            )

    def _upcoming(self, key: str, stored: Stored, version: int) -> list[datetime | None] | None:
        """When each open case next needs an alert; None when none is open (cached)."""
        cached = self._next.get(key)
        if cached is not None and cached[0] == stored.seq and cached[1] == version:
            return cached[2]
        rules = self.view.rules
        open_cases = [c for c in stored.conversation.cases(rules) if c.status == "open"]
        upcoming = [next_alert_at(c, rules) for c in open_cases] if open_cases else None
        self._next[key] = (stored.seq, version, upcoming)
        return upcoming

    def update_metrics(self) -> None:
        counts = self.view.counts(self.rt.clock.now())
        metrics = self.rt.metrics
        metrics.open_cases.set(counts["open"])
        metrics.breached_cases.set(counts["breached"])


async def run_readers(rt: Runtime, store: StateStore, view: SlaView) -> None:
    """Create the SLA topics if need be, then follow the state, emergency and cases topics.

    A broker error starts them again after a pause (each reads its topic from the start);
    any other error is a bug and ends them, which stops the worker (``stops_worker``).
    """
    settings = rt.settings
    kafka = settings.kafka
    replicas = settings.replication_factor
    specs = rt.specs
    topics = settings.topics
    dead = ReaderDeadLetters(DeadLetters(rt, agent="sla-readers"))
    while True:
        try:
            for name in (topics.emergency, topics.cases, topics.sla_state):
                await ensure_topic(kafka, specs[name], settings.partitions, replicas)
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    follow_topic(
                        kafka,
                        topics.sla_state,
                        store.on_record,
                        store.ready,
                        syncs=store.syncs,
                        on_invalid=dead,
                    )
                )
                group.create_task(
                    follow_topic(kafka, topics.emergency, view.on_emergency_record, on_invalid=dead)
                )
                group.create_task(
                    follow_topic(kafka, topics.cases, view.on_case_record, on_invalid=dead)
                )
        except Exception as exc:  # noqa: BLE001 - the TaskGroup's group: bugs are re-raised
            if not _broker_trouble(exc):
                raise _first_bug(exc) from None
            # The broker is away: read everything again once it is back.
            log.warning("sla state readers stopped; retrying", error=type(exc).__name__)
            await asyncio.sleep(FEED_RETRY_S)


def _first_bug(exc: Exception) -> Exception:
    """The error inside a task group's that is not the broker's (the group itself is noise)."""
    if isinstance(exc, ExceptionGroup):
        for inner in exc.exceptions:
            if not _broker_trouble(inner):
                return _first_bug(inner)
    return exc


def _broker_trouble(exc: BaseException) -> bool:
    """Whether ``exc`` (or every error of a group) is the broker's, not a bug."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_broker_trouble(inner) for inner in exc.exceptions)
    return isinstance(exc, KafkaError | OSError | TimeoutError)


def register(rt: Runtime, ctx: WorkerContext) -> None:
    """Add the SLA agents, state, timer and view to ``rt.app``."""
    app = rt.app
    topics = rt.settings.topics
    view = SlaView(load_policy(rt.settings))
    ctx.views.sla = view
    channels = rt.channels

    def topic(name: str) -> Any:
        return app.topic(name, **topic_options(rt.settings, rt.specs[name]))

    events_topic = topic(topics.sla_events)
    emergency_topic = topic(topics.emergency)
    state_topic = topic(topics.sla_state)
    store = StateStore()
    keeper = CaseKeeper(rt, store, (events_topic, state_topic), view)
    ctx.views.sla_keeper = keeper

    async def publish_emergency(change: Any) -> None:
        await (await emergency_topic.send(key=change.id.encode(), value=encode(change)))
        view.apply_emergency(change)

    view.publish_emergency = publish_emergency

    async def each(body: Any, stream: Any) -> None:
        # An error (the breaker, or a bug) ends the agent and stops the worker.
        async for event in stream.events():
            await body(event)

    @stops_worker(rt.fatal, "sla verdicts agent")
    async def sla_verdicts(stream: Any) -> None:
        await each(keeper.on_verdict, stream)

    @stops_worker(rt.fatal, "sla decisions agent")
    async def sla_decisions(stream: Any) -> None:
        async for event in stream.events():
            pending = await keeper.on_decision(event)
            if pending is not None:
                await pending

    @stops_worker(rt.fatal, "sla events agent")
    async def sla_events(stream: Any) -> None:
        await each(keeper.on_sla_event, stream)

    @app.on_rebalance_complete.connect  # type: ignore[untyped-decorator]
    async def _rebalanced(sender: Any, **_: Any) -> None:
        keeper.on_rebalanced()

    app.agent(channels.verdicts, name="sla-verdicts", concurrency=1)(sla_verdicts)
    app.agent(channels.decisions, name="sla-decisions", concurrency=1)(sla_decisions)
    app.agent(events_topic, name="sla-events", concurrency=1)(sla_events)

    @stops_worker(rt.fatal, "sla timer")
    async def sla_timer() -> None:
        await keeper.scan()

    app.timer(SCAN_INTERVAL_S, name="sla-timer")(sla_timer)

    @stops_worker(rt.fatal, "sla state readers")
    async def sla_feeds() -> None:
        await run_readers(rt, store, view)

    app.task(sla_feeds)
