"""The SLA part of the worker: the faust adapter around the case keeper's pure step.

Agents (all keyed by conversation key, co-partitioned with ``triage.verdicts``):

- ``sla-verdicts`` reads ``triage.verdicts``: residents' comments and council replies.
- ``sla-decisions`` reads ``triage.decisions`` (keyed by review item id) and forwards the
  decisions that end a wait for a reply to the internal ``triage.sla-events`` topic,
  keyed by the decision's conversation key (a repartition).
- ``sla-events`` reads ``triage.sla-events``: forwarded decisions, and ticks from the timer.

Each event is decoded, passed with the conversation's state to
:func:`worker.sla.step.step`, and its outputs written through ``rt.producer``: the alerts
first, awaited, then the cases and the new state, awaited, and only then does the agent
take (and so acknowledge) the next event. The state lives on the compacted
``triage.sla-state`` topic, partitioned like the verdicts: on assignment each partition's
state is read to its end offset before that partition's events are handled
(worker/sla/store.py), while the other partitions carry on.

The timer changes no state itself: it finds this worker's conversations that need an
alert or a new due time and sends them a tick, handled in order with their events.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from aiokafka.errors import KafkaError
from faust.types import TP

from records import InvalidRecord, TriageResult, decode, encode
from records.admin import ensure_topic
from records.moderation import Decision
from records.sla_state import CaseEvent, SlaMessage, SlaState
from worker.deadletter import Breaker, DeadLetters, ReaderDeadLetters, decode_or_dead_letter
from worker.follow import TopicFollower
from worker.runtime import Runtime, stops_worker, topic_options
from worker.settings import Settings
from worker.sla.cases import cases_of, event_from_decision, event_from_result, next_alert_at
from worker.sla.policy import SlaPolicy, load_sla_policy
from worker.sla.step import new_state, step
from worker.sla.store import PartitionStore, recover_partition
from worker.sla.view import SlaView

if TYPE_CHECKING:
    from worker.context import WorkerContext

__all__ = [
    "FEED_RETRY_S",
    "SCAN_INTERVAL_S",
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

FEED_RETRY_S = 5.0
"""Pause before the view's readers start again after a broker error."""

TICK_RETRY_S = 5.0
"""A conversation already sent a tick is not sent another for this long."""

TICK = SlaMessage(kind="tick").model_dump_json().encode()

OpenCases = tuple[list[datetime | None], list[datetime | None]]
"""A conversation's open cases: when each next needs an alert, and when each is due."""


def load_policy(settings: Settings) -> SlaPolicy:
    path = settings.policy
    if not path.exists():
        log.warning("policy file not found: reply tracking uses the default office hours")
        return SlaPolicy()
    return load_sla_policy(path)  # a broken policy stops the worker with PolicyError


class CaseKeeper:
    """Runs the step for each event and writes its outputs; owns the partitions' state."""

    def __init__(self, rt: Runtime, store: PartitionStore, view: SlaView) -> None:
        self.rt = rt
        self.store = store
        self.view = view
        self.topics = rt.settings.topics
        self.dead = DeadLetters(rt, agent="sla")
        self.breaker = Breaker.from_settings(rt.settings)
        # One conversation update at a time: two agents share the state.
        self._lock = asyncio.Lock()
        # The verdict partitions this worker owns (set on assignment) and their recoveries.
        self.owned: set[int] = set()
        self._recoveries: dict[int, asyncio.Task[None]] = {}
        self._changed: asyncio.Condition | None = None
        self._ticked: dict[str, tuple[float, int, int]] = {}
        self._next: dict[str, tuple[int, int, OpenCases | None]] = {}
        self._state_topic_made = False
        self.scans = 0
        self.recovered = 0

    @property
    def changed(self) -> asyncio.Condition:
        """Notified whenever a partition is assigned, recovered or revoked."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    # Assignment

    def own(self, partitions: Iterable[int]) -> None:
        """Take ``partitions`` as recovered already (the middle tier: nothing to read)."""
        for partition in partitions:
            self.owned.add(partition)
            self.store.begin(partition)
            self.store.done(partition)

    async def on_assigned(self, partitions: set[int]) -> None:
        """Read each assigned partition's state before handling its events.

        Every assigned partition is read again, the ones kept too: another worker may have
        owned one in between (a worker that lost its session and came back). The update
        in progress, if any, is written first, so that the reading starts after it.
        """
        async with self._lock:
            self._give_up(self.owned - partitions)
            self.owned = set(partitions)
            for partition in partitions:
                self.store.begin(partition)
                old = self._recoveries.pop(partition, None)
                if old is not None:
                    old.cancel()
                task = asyncio.ensure_future(self._recover(partition))
                task.add_done_callback(self._recovery_ended)
                self._recoveries[partition] = task
            self._pause(partitions)
        await self._notify()

    async def on_revoked(self, partitions: Iterable[int]) -> None:
        """Give up ``partitions``, after the update in progress (if any) has been written."""
        async with self._lock:
            self._give_up(partitions)
        await self._notify()

    def _give_up(self, partitions: Iterable[int]) -> None:
        for partition in set(partitions):
            self.owned.discard(partition)
            task = self._recoveries.pop(partition, None)
            if task is not None:
                task.cancel()
            self.store.drop(partition)

    def _recovery_ended(self, task: asyncio.Task[None]) -> None:
        # Broker errors are retried inside; anything else is a bug, and the partition
        # would wait for ever: stop the worker instead.
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.rt.fatal.set(error, "sla state recovery")

    async def _state_topic(self) -> None:
        """Create ``triage.sla-state`` first if need be: a reader asking for a topic that
        does not exist yet would have the broker make it with its default partitions,
        and then the states would not share the verdicts' partition numbers."""
        if self._state_topic_made:
            return
        settings = self.rt.settings
        name = self.topics.sla_state
        while True:
            try:
                await ensure_topic(
                    settings.kafka,
                    self.rt.specs[name],
                    settings.partitions,
                    settings.replication_factor,
                )
            except (KafkaError, OSError) as exc:
                log.warning("cannot create the sla state topic; retrying", error=type(exc).__name__)
                await asyncio.sleep(FEED_RETRY_S)
                continue
            self._state_topic_made = True
            return

    async def _recover(self, partition: int) -> None:
        started = time.monotonic()
        await self._state_topic()
        read = await recover_partition(
            self.rt.settings.kafka,
            self.topics.sla_state,
            partition,
            self.store,
            on_invalid=ReaderDeadLetters(self.dead),
        )
        self.store.done(partition)
        self._recoveries.pop(partition, None)
        self.recovered += 1
        log.info(
            "sla state recovered",
            partition=partition,
            records=read,
            s=round(time.monotonic() - started, 3),
        )
        self._resume({partition})
        await self._notify()

    def _tps(self, partitions: Iterable[int]) -> set[Any]:
        names = (self.topics.verdicts, self.topics.sla_events)
        return {TP(name, p) for p in partitions for name in names}

    def _pause(self, partitions: Iterable[int]) -> None:
        consumer = getattr(self.rt.app, "consumer", None)
        waiting = [p for p in partitions if not self.store.is_ready(p)]
        if consumer is not None and waiting:
            consumer.pause_partitions(self._tps(waiting))

    def _resume(self, partitions: Iterable[int]) -> None:
        consumer = getattr(self.rt.app, "consumer", None)
        mine = [p for p in partitions if p in self.owned]
        if consumer is not None and mine:
            consumer.resume_partitions(self._tps(mine))

    def after_rebalance(self) -> None:
        """faust resumes every partition once its own recovery ends: pause those still
        being read again, just after it (a safety net keeps their events waiting anyway)."""
        asyncio.get_running_loop().call_soon(self._pause, set(self.owned))

    async def _usable(self, partition: int) -> bool:
        """Wait until ``partition``'s state is read; False when it was revoked meanwhile."""
        async with self.changed:
            await self.changed.wait_for(
                lambda: self.store.is_ready(partition) or partition not in self.owned
            )
        return self.store.is_ready(partition)

    # The step, and its outputs

    async def handle(self, key: str, event: CaseEvent | None, partition: int) -> None:
        """Add ``event`` (None: just re-check) to the conversation and write what changed."""
        if not await self._usable(partition):
            return  # revoked: the new owner reads this event again
        async with self._lock:
            if not self.store.is_ready(partition):
                return
            state = self.store.get(partition, key) or new_state(key, partition)
            updated, outputs = step(state, event, self.rt.clock.now(), self.view.rules, self.topics)
            producer = self.rt.producer
            pending = [await producer.send(o.topic, o.key, o.value) for o in outputs.alerts]
            # The alerts must be on the broker before the state says they were sent.
            await asyncio.gather(*pending)
            for alert in outputs.sent:
                log.info("sla alert", kind=alert.kind, case_id=alert.data.get("case_id"))
            pending = [await producer.send(o.topic, o.key, o.value) for o in outputs.rest]
            await asyncio.gather(*pending)
            quiet = self._open_cases(key, updated, self.view.rules_version) is None
            self.store.put(partition, key, updated, quiet=quiet)
            if quiet:
                self._forget(key)
            for case in outputs.cases:
                self.view.apply_case(case)

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
        return await self.rt.producer.send(
            self.topics.sla_events,
            decision.conversation_key.encode(),
            message.model_dump_json().encode(),
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

    async def scan(self) -> None:
        """Send a tick to every local conversation whose alert is due or whose rules changed;
        count the open and breached cases of the partitions this worker owns."""
        self.scans += 1
        now = self.rt.clock.now()
        version = self.view.rules_version
        monotonic = time.monotonic()
        open_count = breached_count = 0
        for partition in sorted(self.owned & self.store.ready_partitions()):
            for key, state in self.store.active(partition):
                found = self._open_cases(key, state, version)
                if found is None:
                    # No open case: nothing to tick until an event of it comes.
                    self.store.quieten(partition, key)
                    self._forget(key)
                    continue
                upcoming, dues = found
                open_count += len(dues)
                breached_count += sum(1 for due in dues if due is not None and now >= due)
                last = self._ticked.get(key)
                rules_changed = last is None or last[1] != version
                due = any(at is not None and at <= now for at in upcoming)
                if not (due or (rules_changed and version > 0)):
                    continue
                # A tick still on its way (the state has not changed since) is not repeated.
                waiting = last is not None and last[2] == state.seq and not rules_changed
                if waiting and last is not None and monotonic - last[0] < TICK_RETRY_S:
                    continue
                self._ticked[key] = (monotonic, version, state.seq)
                await self.rt.producer.send(self.topics.sla_events, key.encode(), TICK)
        # Each worker counts its own partitions, so the sum over the replicas is the whole.
        self.rt.metrics.open_cases.set(open_count)
        self.rt.metrics.breached_cases.set(breached_count)

    def _forget(self, key: str) -> None:
        """Drop the timer's notes of a conversation with no open case."""
        self._next.pop(key, None)
        self._ticked.pop(key, None)

    def _open_cases(self, key: str, state: SlaState, version: int) -> OpenCases | None:
        """For the open cases: when each next needs an alert, and when each is due; None
        when none is open (cached by the state's and the rules' versions)."""
        cached = self._next.get(key)
        if cached is not None and cached[0] == state.seq and cached[1] == version:
            return cached[2]
        rules = self.view.rules
        open_cases = [c for c in cases_of(state.conversation, rules) if c.status == "open"]
        found = None
        if open_cases:
            found = ([next_alert_at(c, rules) for c in open_cases], [c.due_at for c in open_cases])
        self._next[key] = (state.seq, version, found)
        return found


async def run_readers(rt: Runtime, view: SlaView) -> None:
    """Create the SLA topics if need be, then follow the emergency and cases topics whole
    (every worker's view holds every case, for the reports and the officers' pages).

    A broker error starts them again after a pause (the view takes each record again
    without harm: cases replace by id, switches are kept once); any other error is a bug
    and ends them, which stops the worker (``stops_worker``).
    """
    settings = rt.settings
    topics = settings.topics
    dead = ReaderDeadLetters(DeadLetters(rt, agent="sla-readers"))
    while True:
        follower = TopicFollower(
            settings,
            {topics.emergency: view.on_emergency_record, topics.cases: view.on_case_record},
            name="sla-view",
            # No agent reads these topics, so nobody else would dead-letter their records.
            dead_lettered={topics.emergency, topics.cases},
            on_invalid=dead,
        )
        try:
            for name in (topics.emergency, topics.cases, topics.sla_state):
                await ensure_topic(
                    settings.kafka, rt.specs[name], settings.partitions, settings.replication_factor
                )
            await follower.run()
        except (KafkaError, OSError, TimeoutError) as exc:
            # The broker is away: read everything again once it is back.
            log.warning("sla view readers stopped; retrying", error=type(exc).__name__)
            await asyncio.sleep(FEED_RETRY_S)


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
    # Declared so that faust creates it with the App; the keeper reads it on assignment.
    topic(topics.sla_state)
    keeper = CaseKeeper(rt, PartitionStore(), view)
    ctx.views.sla_keeper = keeper

    async def publish_emergency(change: Any) -> None:
        await (await emergency_topic.send(key=change.id.encode(), value=encode(change)))
        view.apply_emergency(change)

    view.publish_emergency = publish_emergency

    async def each(body: Any, stream: Any) -> None:
        # faust acknowledges an event when the next is taken, so after its writes: body
        # returns once the broker has them. An error (the breaker, or a bug) ends the
        # agent and stops the worker.
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

    verdicts = channels.verdicts.get_topic_name()

    @app.on_partitions_revoked.connect  # type: ignore[untyped-decorator]
    async def _revoked(sender: Any, revoked: Any = (), **_: Any) -> None:
        await keeper.on_revoked({tp.partition for tp in revoked if tp.topic == verdicts})

    @app.on_partitions_assigned.connect  # type: ignore[untyped-decorator]
    async def _assigned(sender: Any, assigned: Any = (), **_: Any) -> None:
        await keeper.on_assigned({tp.partition for tp in assigned if tp.topic == verdicts})

    @app.on_rebalance_complete.connect  # type: ignore[untyped-decorator]
    async def _rebalanced(sender: Any, **_: Any) -> None:
        keeper.after_rebalance()

    app.agent(channels.verdicts, name="sla-verdicts", concurrency=1)(sla_verdicts)
    app.agent(channels.decisions, name="sla-decisions", concurrency=1)(sla_decisions)
    app.agent(events_topic, name="sla-events", concurrency=1)(sla_events)

    @stops_worker(rt.fatal, "sla timer")
    async def sla_timer() -> None:
        await keeper.scan()

    app.timer(SCAN_INTERVAL_S, name="sla-timer")(sla_timer)

    @stops_worker(rt.fatal, "sla view readers")
    async def sla_feeds() -> None:
        await run_readers(rt, view)

    app.task(sla_feeds)
