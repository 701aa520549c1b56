"""The case keeper's pure step, and its adapter when a write fails between alert and state."""

from __future__ import annotations

import pytest

from records import Topics, decode
from records.sla import Alert
from records.sla_state import SlaState
from tests.contract.sla import MemorySla, at, post
from tests.integration.conftest import KeywordClassifier
from worker.sla.cases import Rules, event_from_result
from worker.sla.step import new_state, step
from worker.triage import classify_batch, outputs_for

TOPICS = Topics("t.")
RULES = Rules()


def query_event(cid: str, when: str):
    comment = post(cid, "pothole on the green", when)
    [verdict] = classify_batch(KeywordClassifier(), [comment])
    return comment.conversation_key, event_from_result(
        outputs_for(comment, verdict, at(when)).result
    )


def test_a_query_writes_its_case_then_its_state():
    """The first event writes the open case and the new state, and no alert."""
    key, event = query_event("q1", "2026-11-23T10:00")
    state, out = step(new_state(key, 0), event, at("2026-11-23T10:00"), RULES, TOPICS)
    assert out.alerts == ()
    assert [o.topic for o in out.rest] == ["t.triage.cases", "t.triage.sla-state"]
    assert decode(out.rest[-1].value, SlaState) == state
    assert state.seq == 1


def test_a_due_alert_comes_first_and_the_state_records_it():
    """At 16:00 the at-risk alert is in the first group; the state after it says it was sent."""
    key, event = query_event("q1", "2026-11-23T10:00")
    state, _ = step(new_state(key, 0), event, at("2026-11-23T10:00"), RULES, TOPICS)
    later, out = step(state, None, at("2026-11-23T16:00"), RULES, TOPICS)
    [alert] = [decode(o.value, Alert) for o in out.alerts]
    assert [o.topic for o in out.alerts] == ["t.triage.alerts"]
    assert alert.id in later.conversation.alerts_sent
    assert out.rest[-1].topic == "t.triage.sla-state"


def test_a_tick_with_nothing_due_changes_nothing():
    """A re-check before any alert is due returns the same state and writes nothing."""
    key, event = query_event("q1", "2026-11-23T10:00")
    state, _ = step(new_state(key, 0), event, at("2026-11-23T10:00"), RULES, TOPICS)
    same, out = step(state, None, at("2026-11-23T11:00"), RULES, TOPICS)
    assert same is state
    assert (out.alerts, out.rest) == ((), ())


def test_an_alert_sent_again_after_the_state_was_written_is_never_sent():
    """Once the state says an alert was sent, no later step sends it again."""
    key, event = query_event("q1", "2026-11-23T10:00")
    state, _ = step(new_state(key, 0), event, at("2026-11-23T10:00"), RULES, TOPICS)
    state, first = step(state, None, at("2026-11-23T16:00"), RULES, TOPICS)
    assert len(first.alerts) == 1
    for hour in ("16:30", "16:59"):
        state, out = step(state, None, at(f"2026-11-23T{hour}"), RULES, TOPICS)
        assert out.alerts == ()


async def test_a_crash_between_alert_and_state_repeats_the_alert_with_its_id():
    """If the state write fails after the alert is on the broker, the restarted keeper
    sends the alert again with the same id: a copy to drop, never a lost alert."""
    sla = MemorySla()
    await sla.advance(at("2026-11-23T10:00"))
    await sla.send_comment(post("q1", "pothole by the pond", "2026-11-23T10:00"))
    state_topic = sla.topics.sla_state
    sla.producer.fail = lambda sent: OSError("broker gone") if sent.topic == state_topic else None
    sla.clock.set(at("2026-11-23T16:00"))
    with pytest.raises(OSError, match="broker gone"):
        await sla.quiet()
    sla.producer.fail = None
    await sla.restart()
    await sla.quiet()
    ids = [a.id for a in await sla.alerts(2)]
    assert len(ids) == 2
    assert len(set(ids)) == 1
    await sla.quiet()
    assert await sla.alert_count() == 2
