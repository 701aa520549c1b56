"""The worker's writer of handling records: ``triage run``'s officers' app writes
assignments and notes to ``triage.handling`` through ``rt.producer`` (``triage web``
has its own producer, worker/web/standalone.py); the projector folds them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from records import encode
from records.handling import HandlingRecord
from worker.context import WorkerContext
from worker.runtime import Runtime

__all__ = ["HandlingSink", "register"]

# Writes one record, keyed by its item, and waits for the broker's acknowledgement.
HandlingSink = Callable[[HandlingRecord], Awaitable[None]]


def register(rt: Runtime, ctx: WorkerContext) -> None:
    topic = rt.settings.topics.handling

    async def sink(record: HandlingRecord) -> None:
        future = await rt.producer.send(topic, record.item_id.encode(), encode(record))
        await future

    ctx.views.handling_sink = sink
