"""The case keeper's logic as a pure step: a conversation's state and one event in, the
new state and the records to write out. No Kafka, no clock, no I/O.

The adapter (worker/sla/agent.py) writes ``outputs.alerts`` first and waits until the
broker has them, then writes ``outputs.rest`` (the cases that changed and the new state):
an alert is on the broker before the state that says it was sent, so a crash in between
can repeat an alert (with the same id), never lose one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from records import Topics, encode
from records.sla import Alert, Case
from records.sla_state import CaseEvent, Conversation, SlaState
from worker.sla.cases import Rules, alerts_due, cases_of

__all__ = ["Output", "Outputs", "new_state", "step"]


@dataclass(frozen=True, slots=True)
class Output:
    """One record to write: topic name, key and value."""

    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Outputs:
    """What a step writes: ``alerts`` acknowledged before ``rest`` is sent."""

    alerts: tuple[Output, ...] = ()
    rest: tuple[Output, ...] = ()
    # The cases written to triage.cases (the adapter shows them in its view at once).
    cases: tuple[Case, ...] = ()
    sent: tuple[Alert, ...] = ()


def new_state(key: str, partition: int) -> SlaState:
    """The state of a conversation not seen before."""
    return SlaState(partition=partition, conversation=Conversation(key=key))


def _digest(case: Case) -> str:
    return hashlib.sha256(case.model_dump_json().encode()).hexdigest()[:16]


def step(
    state: SlaState,
    event: CaseEvent | None,
    now: datetime,
    rules: Rules,
    topics: Topics,
) -> tuple[SlaState, Outputs]:
    """Add ``event`` (None: a timer tick, just re-check) to the conversation at ``now``.

    Returns the new state (``state`` itself when nothing changed) and the outputs: the
    alerts now due and not yet sent, each case whose published version changed, and the
    new state for ``triage.sla-state`` when it differs from the old one.
    """
    conversation = state.conversation
    if event is not None:
        conversation = conversation.with_event(event)
    key = conversation.key.encode()
    cases = cases_of(conversation, rules)
    alerts = [alert for case in cases for alert in alerts_due(case, rules, now)]
    if alerts:
        conversation = conversation.with_alerts(a.id for a in alerts)
        cases = cases_of(conversation, rules)
    published = dict(state.published)
    rest: list[Output] = []
    changed: list[Case] = []
    for case in cases:
        digest = _digest(case)
        if published.get(case.id) == digest:
            continue
        rest.append(Output(topics.cases, case.id.encode(), encode(case)))
        changed.append(case)
        published[case.id] = digest
    updated = SlaState(
        seq=state.seq + 1,
        partition=state.partition,
        conversation=conversation,
        published=published,
    )
    if updated.model_copy(update={"seq": state.seq}) == state:
        return state, Outputs(rest=tuple(rest), cases=tuple(changed))
    rest.append(Output(topics.sla_state, key, updated.model_dump_json().encode()))
    return updated, Outputs(
        alerts=tuple(Output(topics.alerts, a.id.encode(), encode(a)) for a in alerts),
        rest=tuple(rest),
        cases=tuple(changed),
        sent=tuple(alerts),
    )
