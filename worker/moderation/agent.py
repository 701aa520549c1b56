"""The moderation agents: officers' decisions in; audit records, alerts, labels and
closed items out; moderation items enriched with the author's record.

``register(rt, ctx)`` (called by ``create_app``) adds two faust agents and the
topic reader that keeps the review, ledger and audit views whole in this process.
Outputs are awaited before the input is acknowledged (at least once); the audit
record's id is the decision id, so a decision delivered twice is recorded once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import mode
import structlog

from records import ReviewItem, encode
from records.ids import automatic_decision_id, block_alert_id
from records.moderation import CLOSING_ACTIONS, AuditRecord, Decision, LabelExample
from records.sla import Alert
from records.verdict import Category
from worker.deadletter import Breaker, DeadLetters, ReaderDeadLetters, decode_or_dead_letter
from worker.moderation.decisions import may, same_content
from worker.moderation.ledger import (
    BREACH_ACTIONS,
    MODERATION_CATEGORIES,
    appeal_date,
    enrich,
    is_extreme,
    needs_moderation,
)
from worker.moderation.messages import check_templates
from worker.moderation.policy import ModerationConfig, load_moderation_config
from worker.moderation.review_view import ModerationState, TopicReader, install_views
from worker.runtime import Runtime, stops_worker

if TYPE_CHECKING:
    from worker.context import WorkerContext

__all__ = [
    "AUDITED_ACTIONS",
    "AUTOMATIC",
    "ITEM_WAIT_S",
    "Moderation",
    "ViewService",
    "audit_record",
    "automatic_record",
    "block_alert",
    "label_example",
    "local_date",
    "register",
]

log = structlog.get_logger(__name__)

AUDITED_ACTIONS = BREACH_ACTIONS | {"unblock"}
# How long a decision waits for its item to reach this worker's view.
ITEM_WAIT_S = 30.0


def local_date(at: datetime, zone: ZoneInfo) -> date:
    """The council's calendar date of an instant (a block at 00:30 BST is that day's)."""
    return at.astimezone(zone).date()


def audit_record(
    item: ReviewItem, decision: Decision, config: ModerationConfig, zone: ZoneInfo
) -> AuditRecord:
    """The policy's record of a decision; a block's appeal date is a date in ``zone``."""
    comment = item.comment
    verdict = item.verdict
    categories = (
        decision.labels if decision.labels is not None else (verdict.labels if verdict else ())
    )
    return AuditRecord(
        id=decision.id,
        decision_id=decision.id,
        item_id=item.id,
        author_key=comment.author_key,
        platform=comment.platform,
        author_id=comment.author.id,
        account_name=comment.author.name,
        account_handle=comment.author.handle,
        channel=comment.channel,
        comment_key=comment.comment_key,
        posted_at=comment.created_at,
        text=comment.text,
        url=comment.url,
        connector=comment.connector,
        categories=categories,
        reasons=verdict.reasons if verdict else (),
        action=decision.action,
        decided_by=decision.by,
        decided_at=decision.decided_at,
        note=decision.note,
        reference=decision.reference,
        approved_by=decision.approved_by,
        appealable_from=(
            appeal_date(local_date(decision.decided_at, zone))
            if decision.action == "block"
            else None
        ),
        extreme=is_extreme(verdict, config.moderation),
    )


AUTOMATIC = "automatic"


def automatic_record(
    item: ReviewItem, config: ModerationConfig, now: datetime, zone: ZoneInfo
) -> AuditRecord | None:
    """The record of an automatic hide, when the policy file enables one and it applies."""
    policy = config.moderation
    verdict = item.verdict
    if "hide" not in policy.auto_actions or verdict is None or item.status != "open":
        return None
    score = max(verdict.scores.get("abusive", 0.0), verdict.scores.get("spam", 0.0))
    if score < policy.auto_hide_score:
        return None
    decision = Decision(
        id=automatic_decision_id(item.id),
        item_id=item.id,
        lane=item.lane,
        action="hide",
        by=AUTOMATIC,
        role="officer",
        decided_at=now,
        note=f"automatic: score {score:.2f} at or above {policy.auto_hide_score:.2f}",
    )
    return audit_record(item, decision, config, zone).model_copy(update={"automatic": True})


def label_example(item: ReviewItem, decision: Decision) -> LabelExample | None:
    """What the decision teaches the model about this text, if anything."""
    predicted: tuple[Category, ...] = item.verdict.labels if item.verdict else ()
    labels: tuple[Category, ...] | None
    if decision.labels is not None:
        labels = decision.labels
    elif decision.action == "dismiss":
        labels = tuple(c for c in predicted if c not in MODERATION_CATEGORIES)
    elif decision.action in BREACH_ACTIONS or (
        decision.action in ("replied", "moved_private") and "service_request" in predicted
    ):
        labels = predicted
    elif decision.action in ("replied", "moved_private") and _possible_query(item):
        labels = (*predicted, "service_request")  # it was a query after all
    elif decision.action == "no_reply_needed" and (
        "service_request" in predicted or _possible_query(item)
    ):
        labels = tuple(c for c in predicted if c != "service_request")
    else:
        labels = None
    if labels is None:
        return None
    return LabelExample(
        id=decision.id,
        comment_key=item.comment.comment_key,
        text=item.comment.text,
        labels=labels,
        predicted=predicted,
        source="confirmed" if set(labels) == set(predicted) else "corrected",
        decision_id=decision.id,
        decided_by=decision.by,
        decided_at=decision.decided_at,
    )


def _possible_query(item: ReviewItem) -> bool:
    return item.verdict is not None and item.verdict.possible_query


def block_alert(record: AuditRecord, now: datetime) -> Alert:
    lifted = record.action == "unblock"
    what = "unblocked (approved by " + (record.approved_by or "?") + ")" if lifted else "blocked"
    message = f"An account on {record.platform} was {what} by {record.decided_by}."
    if not lifted:
        message += (
            " The Managing Director must be told. The account may appeal from "
            f"{record.appealable_from}."
        )
    return Alert(
        id=block_alert_id(record.action, record.decision_id),
        kind=f"author_{record.action}ed",
        severity="info" if lifted else "warning",
        subject=record.author_key,
        message=message,
        created_at=now,
        data={
            "item_id": record.item_id,
            "audit_id": record.id,
            "decided_by": record.decided_by,
            "appealable_from": record.appealable_from.isoformat()
            if record.appealable_from
            else None,
            "for": "managing_director",
        },
    )


class Moderation:
    """Handles decisions and new items for one App."""

    def __init__(
        self,
        rt: Runtime,
        state: ModerationState,
        reader: TopicReader,
        config: ModerationConfig,
        zone: ZoneInfo,
    ) -> None:
        self.rt = rt
        self.state = state
        self.reader = reader
        self.config = config
        self.zone = zone
        self.channels = rt.channels
        self.dead = DeadLetters(rt, agent="moderation")
        self.breaker = Breaker.from_settings(rt.settings)
        self._done: dict[str, Decision] = {}

    async def _item(self, item_id: str) -> ReviewItem | None:
        deadline = time.monotonic() + ITEM_WAIT_S
        while (item := self.state.items.get(item_id)) is None:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.2)
        return item

    async def on_decision(self, event: Any) -> list[Any]:
        """Apply one decision; returns the send futures to await before acking."""
        decision = await decode_or_dead_letter(event, Decision, self.dead, self.breaker)
        if decision is None:
            return []
        # After a restart the ledger must be whole before anything is recorded again.
        await self.reader.wait_caught_up()
        first = self._done.get(decision.id) or self.state.decisions_by_id.get(decision.id)
        if first is not None and not same_content(first, decision):
            # The app never sends this; whatever did must not replace the first decision.
            return [await self.dead.send(event, f"decision id {decision.id} reused")]
        if decision.id in self._done:
            return []
        if not may(decision.role, decision.action):
            return [await self.dead.send(event, f"role {decision.role} may not {decision.action}")]
        item = await self._item(decision.item_id)
        if item is None:
            return [await self.dead.send(event, f"no review item {decision.item_id}")]
        futures = []
        now = self.rt.clock.now()
        if decision.action in AUDITED_ACTIONS and decision.id not in self.state.audit:
            record = audit_record(item, decision, self.config, self.zone)
            futures.append(
                await self.channels.audit.send(key=record.author_key.encode(), value=encode(record))
            )
            # At once in this worker's ledger: the next decision may depend on it.
            self.state.add_audit(record)
            if decision.action in ("block", "unblock"):
                alert = block_alert(record, now)
                futures.append(
                    await self.channels.alerts.send(key=alert.id.encode(), value=encode(alert))
                )
        example = label_example(item, decision)
        if example is not None:
            futures.append(
                await self.channels.labels.send(
                    key=example.comment_key.encode(), value=encode(example)
                )
            )
        if decision.action in CLOSING_ACTIONS and item.lane != "response":
            # Response-lane items are closed by the SLA agent, which owns their deadline.
            closed = item.model_copy(
                update={
                    "status": "closed",
                    "outcome": decision.action,
                    "decided_by": decision.by,
                    "decided_at": decision.decided_at,
                }
            )
            futures.append(
                await self.channels.review.send(key=closed.id.encode(), value=encode(closed))
            )
        self._done[decision.id] = decision
        log.info(
            "decision applied",
            item_id=decision.item_id,
            action=decision.action,
            decision_id=decision.id,
        )
        return futures

    async def on_item(self, event: Any) -> list[Any]:
        """Write back a new moderation item with the author's record and the next step."""
        item = await decode_or_dead_letter(event, ReviewItem, self.dead, self.breaker)
        if item is None or item.status != "open" or item.history is not None:
            return []
        if not needs_moderation(item):
            return []
        current = self.state.get(item.id)
        if current is not None and current.status == "closed":
            return []
        now = self.rt.clock.now()
        futures = []
        record = automatic_record(item, self.config, now, self.zone)
        if record is not None and record.id not in self.state.audit:
            futures.append(
                await self.channels.audit.send(key=record.author_key.encode(), value=encode(record))
            )
            self.state.add_audit(record)
        ledger = self.state.ledgers.get(item.comment.author_key)
        enriched = enrich(item, ledger, self.config.moderation, now)
        futures.append(
            await self.channels.review.send(key=item.id.encode(), value=encode(enriched))
        )
        return futures


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
    """Add the moderation agents to ``rt.app`` and their views to ``ctx.views``."""
    app = rt.app
    config = load_moderation_config(rt.settings.policy)
    check_templates(config.messages)
    state = ModerationState(config=config, clock=rt.clock)
    install_views(ctx.views, state)
    ctx.views.moderation_config = config
    reader = TopicReader(
        rt.settings,
        state,
        on_invalid=ReaderDeadLetters(DeadLetters(rt, agent="moderation-view")),
        on_crash=lambda error: rt.fatal.set(error, "moderation view reader"),
    )
    ctx.views.moderation_reader = reader
    channels = rt.channels
    outputs = (
        channels.review,
        channels.decisions,
        channels.audit,
        channels.labels,
        channels.alerts,
    )
    app.add_dependency(ViewService(reader, outputs))

    async def sink(decision: Decision) -> None:
        future = await channels.decisions.send(
            key=decision.item_id.encode(), value=encode(decision)
        )
        await future

    ctx.views.decision_sink = sink
    moderation = Moderation(rt, state, reader, config, ctx.zone)
    ctx.views.moderation = moderation

    def agent_of(handle: Any, part: str) -> Any:
        @stops_worker(rt.fatal, part)
        async def run(stream: Any) -> None:
            # An error (the breaker, or a bug) leaves the batch unacknowledged.
            async for events in stream.noack_take(50, within=0.2):
                pending = await _each(handle, events)
                await asyncio.gather(*pending)
                for event in events:
                    await stream.ack(event)

        return run

    app.agent(channels.decisions, name="moderation-decisions", concurrency=1)(
        agent_of(moderation.on_decision, "moderation decisions agent")
    )
    app.agent(channels.review, name="moderation-review", concurrency=1)(
        agent_of(moderation.on_item, "moderation review agent")
    )


async def _each(handle: Any, events: Sequence[Any]) -> list[Any]:
    pending: list[Any] = []
    for event in events:
        message = event.message
        with structlog.contextvars.bound_contextvars(
            topic=message.topic, partition=message.partition, offset=message.offset
        ):
            pending.extend(await handle(event))
    return pending
