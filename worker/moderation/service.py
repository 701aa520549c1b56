"""Taking a decision: check it against the review view, then write it to triage.decisions.

The one path for every way a decision arrives (the JSON API, the officers' pages).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from pydantic import ValidationError

from records.moderation import Decision
from worker.context import WorkerContext
from worker.moderation.decisions import (
    DecisionRefused,
    DecisionRequest,
    build_decision,
    id_for,
)
from worker.users import User

__all__ = ["DecisionSink", "Submitted", "submit", "submit_decision"]

log = structlog.get_logger(__name__)

DecisionSink = Callable[[Decision], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Submitted:
    decision: Decision
    # True when a decision with this id had been taken already: nothing more was done.
    repeat: bool


async def submit_decision(ctx: WorkerContext, user: User, request: DecisionRequest) -> Submitted:
    """Validate against the current views and produce; raises :class:`DecisionRefused`."""
    review = ctx.views.review
    ledgers = ctx.views.ledger
    sink = ctx.views.decision_sink
    if review is None or ledgers is None or sink is None:
        raise DecisionRefused(503, "the moderation workflow is not running in this worker")
    # One at a time per worker, so that a double click cannot pass the checks twice.
    async with ctx.decision_lock:
        item = review.get(request.item_id)
        ledger = ledgers.get(item.comment.author_key) if item is not None else None
        try:
            decision, repeat = build_decision(
                request,
                user=user.name,
                role=user.role,
                item=item,
                ledger=ledger,
                previous=review.decision(id_for(request, user.name)),
                now=ctx.clock.now(),
            )
        except ValidationError as exc:  # a field the Decision record refuses
            raise DecisionRefused(422, f"invalid decision: {_first_line(exc)}") from None
        if repeat:
            return Submitted(decision, True)
        await sink(decision)
        state = ctx.views.moderation_state
        if state is not None:
            # Seen at once by this worker; the topic reader will find it again and skip it.
            state.add_decision(decision)
    log.info("decision taken", item_id=decision.item_id, action=decision.action, by=user.name)
    return Submitted(decision, False)


def _first_line(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}"


# The name the officers' pages look for.
submit = submit_decision
