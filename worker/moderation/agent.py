"""The moderation agent: the faust adapter around :class:`~worker.moderation.step.ModerationStep`.

``register(rt, ctx)`` (called by ``create_app``) adds one faust agent that reads
``triage.review`` and ``triage.decisions`` together (co-partitioned: both are keyed by
review item id) and the topic reader that keeps the review, ledger and audit views whole
in this process. For each batch the adapter decodes (bad records are dead-lettered),
calls the pure step, writes its outputs through ``rt.producer``, waits until the broker
has them all, and only then acknowledges the inputs the step has finished with. A
decision still waiting for its item is acknowledged when it is applied or refused, so a
restart reads it again (at least once; the audit record's id is the decision id, so a
decision delivered twice is recorded once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import mode
import structlog

from records import ReviewItem, encode
from records.moderation import Decision
from worker.db.views import DbReviewView
from worker.deadletter import Breaker, DeadLetters, ReaderDeadLetters, decode_or_dead_letter
from worker.moderation.messages import check_templates
from worker.moderation.policy import ModerationConfig, load_moderation_config
from worker.moderation.review_view import ModerationState, TopicReader, install_views
from worker.moderation.step import (
    AGENT,
    DecisionRead,
    ItemRead,
    ModerationStep,
    Origin,
    ReviewRead,
    StepRecord,
    StepState,
)
from worker.read_views import ReviewReader
from worker.runtime import Runtime, stops_worker, topic_options
from worker.sla.policy import load_sla_policy
from worker.sla.worktime import WorkCalendar

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from worker.context import WorkerContext

__all__ = ["Moderation", "ViewService", "register"]

log = structlog.get_logger(__name__)


class Moderation:
    """Runs the step for one App: decode, step, produce, acknowledge."""

    def __init__(
        self,
        rt: Runtime,
        state: ModerationState,
        reader: TopicReader,
        config: ModerationConfig,
        zone: ZoneInfo,
        *,
        calendar: WorkCalendar | None = None,
        emergency: Callable[[datetime], bool] | None = None,
        history: ReviewReader | None = None,
    ) -> None:
        self.rt = rt
        self.reader = reader
        # The database's items and decisions, for those the view has let go (closed).
        self.history = history
        self.topics = rt.settings.topics
        self.logic = ModerationStep(config, zone, self.topics, calendar, emergency)
        self.state = StepState(view=state)
        self.dead = DeadLetters(rt, agent=AGENT)
        self.breaker = Breaker.from_settings(rt.settings)
        # Inputs read but not yet acknowledged, by (topic, partition, offset).
        self._held: dict[tuple[str, int, int], Any] = {}
        # The next offset to step through of each input partition, once its writes are on
        # the broker (for operators and tests: how far the agent has got).
        self.read: dict[tuple[str, int], int] = {}

    async def handle(self, events: Sequence[Any]) -> list[Any]:
        """Step through ``events``; returns the events now safe to acknowledge once the
        returned writes (awaited here) are on the broker."""
        # After a restart the ledger and moderation's records must be whole first.
        await self.reader.wait_caught_up()
        records: list[tuple[Any, StepRecord | None]] = []
        partitions: set[int] = set()
        for event in events:
            message = event.message
            partitions.add(message.partition)
            with structlog.contextvars.bound_contextvars(
                topic=message.topic, partition=message.partition, offset=message.offset
            ):
                records.append((event, await self._record(event)))
        pending: list[Any] = []
        ready: list[Any] = []
        now = self.rt.clock.now()
        # What the whole-topic reader holds already settles waiting decisions.
        for partition in sorted(partitions):
            offset = self.reader.position(self.topics.review, partition)
            pending.extend(await self._step(ReviewRead(partition, offset), now, ready))
        for event, record in records:
            if record is None:  # dead-lettered while decoding
                ready.append(event)
                continue
            self._held[_where(event)] = event
            pending.extend(await self._step(record, now, ready))
        await asyncio.gather(*pending)
        for event in events:
            message = event.message
            where = (message.topic, message.partition)
            self.read[where] = max(self.read.get(where, 0), message.offset + 1)
        return ready

    async def _record(self, event: Any) -> StepRecord | None:
        message = event.message
        origin = Origin(
            message.topic,
            message.partition,
            message.offset,
            _bytes(message.key),
            _bytes(message.value),
        )
        if message.topic == self.topics.review:
            item = await decode_or_dead_letter(event, ReviewItem, self.dead, self.breaker)
            return None if item is None else ItemRead(item, origin)
        decision = await decode_or_dead_letter(event, Decision, self.dead, self.breaker)
        if decision is None:
            return None
        end = item = first = None
        if decision.item_id in self.state.view.gone and self.history is not None:
            # Closed long ago (a block after a hide): the view has let the item go.
            item, first = await asyncio.to_thread(self._from_history, decision)
        if item is None and not self.logic.knows(self.state, decision.item_id):
            # Rare (the app decides only on items it shows): where the item's partition
            # ends now says, once read that far, whether the item exists at all.
            end = await self.reader.end_offset(self.topics.review, message.partition)
        return DecisionRead(decision, origin, end, item, first)

    def _from_history(self, decision: Decision) -> tuple[ReviewItem | None, Decision | None]:
        assert self.history is not None
        return self.history.get(decision.item_id), self.history.decision(decision.id)

    async def _step(self, record: StepRecord, now: datetime, ready: list[Any]) -> list[Any]:
        self.state, out = self.logic.step(self.state, record, now)
        futures = []
        for send in out.sends:
            if send.reason is not None:
                # The reason names ids and fields, never contents, so it is safe to log.
                log.warning("record dead-lettered", agent=AGENT, reason=send.reason)
                self.rt.metrics.dead_letters.labels(agent=AGENT).inc()
            futures.append(await self.rt.producer.send(send.topic, send.key, send.value))
        for origin in out.done:
            event = self._held.pop(origin.where, None)
            if event is not None:
                ready.append(event)
        if isinstance(record, DecisionRead) and record.origin in out.done:
            log.info(
                "decision handled",
                item_id=record.decision.item_id,
                action=record.decision.action,
                decision_id=record.decision.id,
            )
        return futures

    def revoked(self, partitions: Iterable[Any]) -> None:
        """Forget the held inputs and waiting decisions of partitions taken away."""
        inputs = (self.topics.review, self.topics.decisions)
        numbers = {tp.partition for tp in partitions if tp.topic in inputs}
        if not numbers:
            return
        self.state.forget(numbers)
        self._held = {k: e for k, e in self._held.items() if k[1] not in numbers}


def _where(event: Any) -> tuple[str, int, int]:
    message = event.message
    return (message.topic, message.partition, message.offset)


def _bytes(value: Any) -> bytes | None:
    return value if value is None or isinstance(value, bytes) else str(value).encode()


class ViewService(mode.Service):  # type: ignore[misc]  # mode is untyped
    """Starts and stops the topic reader with the App."""

    def __init__(self, reader: TopicReader, topics: Sequence[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reader = reader
        self.topics = topics

    async def on_start(self) -> None:
        # faust creates a topic when an agent subscribes to it or on its first send;
        # the reader needs all of its topics now, with the configured partitions.
        for topic in self.topics:
            await topic.maybe_declare()
        await self.reader.start()

    async def on_stop(self) -> None:
        await self.reader.stop()


def register(rt: Runtime, ctx: WorkerContext) -> None:
    """Add the moderation agent to ``rt.app`` and its views to ``ctx.views``."""
    app = rt.app
    settings = rt.settings
    topics = settings.topics
    config = load_moderation_config(settings.policy)
    check_templates(config.messages)
    state = ModerationState(config=config, clock=rt.clock)
    install_views(ctx.views, state)
    ctx.views.moderation_config = config
    reader = TopicReader(
        settings,
        state,
        on_invalid=ReaderDeadLetters(DeadLetters(rt, agent="moderation-view")),
        on_crash=lambda error: rt.fatal.set(error, "moderation view reader"),
    )
    ctx.views.moderation_reader = reader
    channels = rt.channels
    own = app.topic(topics.moderation, **topic_options(settings, rt.specs[topics.moderation]))
    outputs = (channels.review, channels.decisions, own, channels.audit, channels.labels)
    app.add_dependency(ViewService(reader, (*outputs, channels.alerts)))

    async def sink(decision: Decision) -> None:
        future = await channels.decisions.send(
            key=decision.item_id.encode(), value=encode(decision)
        )
        await future

    ctx.views.decision_sink = sink
    # Working time as the SLA part has it: urgent posts outside it alert the on-call officer.
    calendar = WorkCalendar(load_sla_policy(settings.policy).working_time)

    def emergency_at(instant: datetime) -> bool:
        # The SLA part's view of the switches (registered before this part).
        sla = ctx.views.sla
        return sla is not None and sla.emergency.active_at(instant)

    users = ctx.views.users
    history = DbReviewView(users.database, config, rt.clock) if users is not None else None
    moderation = Moderation(
        rt,
        state,
        reader,
        config,
        ctx.zone,
        calendar=calendar,
        emergency=emergency_at,
        history=history,
    )
    ctx.views.moderation = moderation
    # One subscription to both inputs: faust assigns co-partitioned topics together, so
    # an item and its decisions reach the same worker. Not declared from here (each
    # input is declared with its own settings above).
    inputs = app.topic(
        topics.review,
        topics.decisions,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.on_partitions_revoked.connect  # type: ignore[untyped-decorator]
    async def _revoked(sender: Any, revoked: Any, **_: Any) -> None:
        moderation.revoked(revoked)

    @stops_worker(rt.fatal, "moderation agent")
    async def run(stream: Any) -> None:
        # An error (the breaker, or a bug) leaves the batch unacknowledged.
        async for events in stream.noack_take(50, within=0.2):
            for event in await moderation.handle(events):
                await stream.ack(event)

    app.agent(inputs, name="moderation", concurrency=1)(run)
