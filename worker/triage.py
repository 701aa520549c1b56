"""The triage agent: comments in, verdicts and review items out, in batches.

For each batch: decode (bad records go to the dead-letter topic), classify the residents'
comments off the event loop, write every comment with its verdict to ``triage.verdicts``
and one review item per lane to ``triage.review``, wait until the broker has them all,
and only then acknowledge the input, so offsets are committed after the outputs exist
(at least once; the review item ids are deterministic so duplicates can be dropped).

What a classified comment becomes is the pure :meth:`TriageStep.step` (no state, no I/O);
:class:`Triage` is the faust adapter that decodes, classifies, calls it, produces through
``rt.producer`` and acknowledges. The triage agent is the one writer of ``triage.review``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from records import Comment, Lane, ReviewItem, Topics, TriageResult, Verdict, encode
from records.ids import review_item_id
from records.sla import asks_for_reply
from worker.deadletter import Breaker, DeadLetters, decode_or_dead_letter
from worker.runtime import Runtime, stops_worker

if TYPE_CHECKING:
    from classifiers import Classifier
    from worker.context import WorkerContext

log = structlog.get_logger(__name__)


def lanes_of(verdict: Verdict) -> tuple[Lane, ...]:
    """Every lane the verdict asks for (``lanes`` when the classifier gives it)."""
    lanes: tuple[Lane, ...] | None = getattr(verdict, "lanes", None)
    if lanes:
        return tuple(dict.fromkeys(lanes))
    return (verdict.lane,) if verdict.lane is not None else ()


@dataclass(frozen=True, slots=True)
class Outputs:
    """What one comment becomes: its row on triage.verdicts and its review items."""

    result: TriageResult
    items: tuple[ReviewItem, ...]


def outputs_for(comment: Comment, verdict: Verdict | None, now: datetime) -> Outputs:
    result = TriageResult(comment=comment, verdict=verdict, classified_at=now)
    if verdict is None:
        return Outputs(result, ())
    items = tuple(
        ReviewItem(
            id=review_item_id(comment, lane),
            lane=lane,
            comment=comment,
            verdict=verdict,
            created_at=now,
        )
        for lane in lanes_for(comment, verdict)
    )
    return Outputs(result, items)


def lanes_for(comment: Comment, verdict: Verdict) -> tuple[Lane, ...]:
    """The verdict's lanes, and the response lane for every comment owed a reply: the
    SLA part opens a case for it, and the officers' view shows the case on this item."""
    lanes = lanes_of(verdict)
    if "response" not in lanes and asks_for_reply(comment, verdict):
        return (*lanes, "response")
    return lanes


@dataclass(frozen=True, slots=True)
class Classified:
    """A decoded comment and its verdict (None for the council's own posts)."""

    comment: Comment
    verdict: Verdict | None


@dataclass(frozen=True, slots=True)
class Write:
    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Written:
    """The step's outputs: the writes in order, and the lanes of the review items."""

    writes: tuple[Write, ...]
    lanes: tuple[Lane, ...]


class TriageStep:
    """``step(state, record, now) -> (state, outputs)``: stateless, so ``state`` is None."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics

    def step(self, state: None, record: Classified, now: datetime) -> tuple[None, Written]:
        """The writes for one comment: its verdict row, then one review item per lane."""
        out = outputs_for(record.comment, record.verdict, now)
        # Keyed by conversation: a thread's posts and replies stay in order for the SLA.
        writes = [
            Write(
                self.topics.verdicts, record.comment.conversation_key.encode(), encode(out.result)
            )
        ]
        writes.extend(Write(self.topics.review, i.id.encode(), encode(i)) for i in out.items)
        return state, Written(tuple(writes), tuple(i.lane for i in out.items))


def classify_batch(classifier: Classifier, comments: Sequence[Comment]) -> list[Verdict | None]:
    """Verdicts in input order; the council's own posts are not classified (None)."""
    residents = [c for c in comments if not c.author.is_council]
    verdicts = iter(classifier.classify(residents) if residents else [])
    out: list[Verdict | None] = []
    for comment in comments:
        out.append(None if comment.author.is_council else next(verdicts))
    return out


class Triage:
    """Handles one batch of faust events at a time; built once per App."""

    def __init__(self, rt: Runtime, classifier: Classifier) -> None:
        self.rt = rt
        self.classifier = classifier
        self.logic = TriageStep(rt.settings.topics)
        self.metrics = rt.metrics
        self.dead = DeadLetters(rt, agent="triage")
        self.breaker = Breaker.from_settings(rt.settings)
        # When a comment was last read (the start until then), for the quiet-feed alert.
        self.last_comment_at = rt.clock.now()

    async def handle(self, events: Sequence[Any]) -> None:
        """Produce every output of ``events`` and wait until the broker has them."""
        pending: list[Any] = []
        decoded: list[tuple[Any, Comment]] = []
        for event in events:
            message = event.message
            with structlog.contextvars.bound_contextvars(
                topic=message.topic, partition=message.partition, offset=message.offset
            ):
                comment = await decode_or_dead_letter(event, Comment, self.dead, self.breaker)
            if comment is not None:
                decoded.append((event, comment))
        if decoded:
            self.last_comment_at = self.rt.clock.now()
            comments = [c for _, c in decoded]
            started = time.perf_counter()
            verdicts = await asyncio.to_thread(classify_batch, self.classifier, comments)
            self.metrics.classify_seconds.observe(time.perf_counter() - started)
            self.metrics.batch_size.observe(len(comments))
            now = self.rt.clock.now()
            for (event, comment), verdict in zip(decoded, verdicts, strict=True):
                pending.extend(await self._send(event, comment, verdict, now))
        # FutureMessages resolve once the broker has acknowledged the write.
        await asyncio.gather(*pending)
        self._observe_lag(events)

    async def _produce(self, topic: str, key: bytes, value: bytes) -> Any:
        return await self.rt.producer.send(topic, key, value)

    def _observe_lag(self, events: Sequence[Any]) -> None:
        last: dict[Any, int] = {}
        for event in events:
            last[event.message.tp] = max(last.get(event.message.tp, -1), event.message.offset)
        consumer = getattr(self.rt.app, "consumer", None)
        for tp, offset in last.items():
            highwater = consumer.highwater(tp) if consumer is not None else None
            if highwater is not None:
                self.metrics.consumer_lag.labels(partition=str(tp.partition)).set(
                    max(0, highwater - offset - 1)
                )

    async def _send(
        self, event: Any, comment: Comment, verdict: Verdict | None, now: datetime
    ) -> list[Any]:
        message = event.message
        with structlog.contextvars.bound_contextvars(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            comment_id=comment.comment_key,
        ):
            _, out = self.logic.step(None, Classified(comment, verdict), now)
            futures = [await self._produce(w.topic, w.key, w.value) for w in out.writes]
            for lane in out.lanes:
                self.metrics.review_items.labels(lane=lane).inc()
            council = comment.author.is_council
            self.metrics.comments_processed.labels(kind="council" if council else "resident").inc()
            labels = verdict.labels if verdict is not None else ()
            for label in labels:
                self.metrics.flagged.labels(category=label).inc()
            log.debug(
                "comment triaged",
                labels=list(labels),
                lanes=list(out.lanes),
                council=council,
            )
        return futures


def register(rt: Runtime, ctx: WorkerContext, classifier: Classifier) -> None:
    """Add the triage agent to ``rt.app``."""
    settings = rt.settings
    triage = Triage(rt, classifier)
    ctx.views.triage = triage

    @stops_worker(rt.fatal, "triage agent")
    async def triage_agent(stream: Any) -> None:
        # Any error (the breaker, or a bug) leaves the batch unacknowledged and stops the
        # worker: the batch is read again after the restart or the fix.
        batches = stream.noack_take(settings.batch_size, within=settings.batch_timeout_ms / 1000)
        async for events in batches:
            await triage.handle(events)
            for event in events:
                await stream.ack(event)

    rt.app.agent(rt.channels.comments, name="triage", concurrency=1)(triage_agent)
    comments = rt.channels.comments.get_topic_name()

    @rt.app.on_partitions_revoked.connect  # type: ignore[untyped-decorator]
    async def _revoked(sender: Any, revoked: Any = (), **_: Any) -> None:
        # A partition's lag is reported by its owner only, so the sum over workers is right.
        for tp in revoked:
            if tp.topic == comments:
                with contextlib.suppress(KeyError):
                    rt.metrics.consumer_lag.remove(str(tp.partition))
