"""What the worker holds in memory grows with the open items and cases, not with history."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from records import Topics, decode
from records.moderation import AuditRecord, ItemModeration
from records.sla import Case
from tests.contract.moderation import NOW, decision, item
from worker.clock import ManualClock
from worker.moderation.policy import ModerationConfig
from worker.moderation.review_view import ModerationState, ReviewView
from worker.moderation.step import (
    KEEP_APPLIED,
    DecisionRead,
    ItemRead,
    ModerationStep,
    Origin,
    StepState,
)
from worker.sla.view import SlaView

ZONE = ZoneInfo("Europe/London")


def state(keep_closed: int = 10) -> ModerationState:
    return ModerationState(ModerationConfig(), ManualClock(NOW), keep_closed=keep_closed)


def closed_note(item_id: str) -> ItemModeration:
    return ItemModeration(
        item_id=item_id,
        status="closed",
        outcome="hide",
        decided_by="olive",
        decided_at=NOW,
        updated_at=NOW,
    )


def held(view: ModerationState) -> int:
    """The largest number of per-item entries in any of the view's item maps."""
    return max(
        len(view.items),
        len(view.moderation),
        len(view.decisions),
        len(view.decisions_by_id),
        len(view.cases),
    )


def test_closed_items_beyond_the_latest_leave_the_view():
    """After many items close, the view holds the open ones and only the latest closed
    ones whole; the others are known closed by their id alone."""
    view = state(keep_closed=10)
    for n in range(500):
        view.add_item(item(n))
        if n % 50:  # one in fifty stays open
            view.add_decision(decision(item(n), "hide"))
            view.add_moderation(closed_note(f"rv-{n}"))
    assert held(view) <= 10 + 10
    opened = [f"rv-{n}" for n in range(0, 500, 50)]
    assert [i.id for i in ReviewView(view).items()] == opened
    assert view.get("rv-499") is not None  # among the latest closed
    assert view.get("rv-1") is None
    assert view.is_closed("rv-1")
    assert not view.is_closed("rv-50")


def test_an_item_read_again_after_it_was_let_go_stays_closed():
    """A closed item the view has let go is neither held again nor shown open when it is
    read again, and its late records are not kept."""
    view = state(keep_closed=1)
    for n in (1, 2):
        view.add_item(item(n))
        view.add_moderation(closed_note(f"rv-{n}"))
    assert "rv-1" in view.gone
    view.add_item(item(1))
    view.add_moderation(closed_note("rv-1"))
    view.add_decision(decision(item(1), "warn"))
    assert "rv-1" not in view.items
    assert held(view) == 1
    assert ReviewView(view).items() == []


def test_records_waiting_for_an_item_that_never_comes_go_once_caught_up():
    """Decisions and records read before an item that is no longer on the review topic
    are dropped when the reader has caught up; those of held items stay."""
    view = state()
    view.add_item(item(1))
    view.add_decision(decision(item(1), "warn"))
    view.add_decision(decision(item(2), "hide"))
    view.add_moderation(closed_note("rv-2"))
    view.caught_up()
    assert list(view.decisions) == ["rv-1"]
    assert list(view.decisions_by_id) == [decision(item(1), "warn").id]
    assert view.moderation == {}


def test_a_replayed_item_that_was_let_go_gets_no_new_advice():
    """The agent reading an item again that closed long ago writes no open record for it
    and keeps no copy of it."""
    logic = ModerationStep(ModerationConfig(), ZONE, Topics())
    steps = StepState(view=state(keep_closed=1))
    for n in (1, 2):
        steps.view.add_item(item(n))
        steps.view.add_moderation(closed_note(f"rv-{n}"))
    steps, out = logic.step(steps, ItemRead(item(1), Origin("triage.review", 0, 7)), NOW)
    assert out.sends == ()
    assert out.done == (Origin("triage.review", 0, 7),)
    assert steps.items == {}


def test_a_block_after_a_hide_long_ago_is_recorded_from_the_item_the_adapter_found():
    """A decision on an item the view has let go is applied to the item the adapter read
    from the database: its audit record is written once, and again not at all."""
    topics = Topics()
    logic = ModerationStep(ModerationConfig(), ZONE, topics)
    steps = StepState(view=state(keep_closed=1))
    first = item(1, author="a1")
    steps.view.add_item(first)
    steps.view.add_moderation(closed_note(first.id))
    steps.view.add_item(item(2))
    steps.view.add_moderation(closed_note("rv-2"))
    assert first.id in steps.view.gone
    block = decision(first, "block", by="mona", role="manager")
    read = DecisionRead(block, Origin(topics.decisions, 0, 0), item=first)
    steps, out = logic.step(steps, read, NOW)
    [audit] = [decode(s.value, AuditRecord) for s in out.sends if s.topic == topics.audit]
    assert (audit.item_id, audit.action, audit.text) == (first.id, "block", "you idiot")
    steps.view.add_audit(audit)
    steps.applied.clear()  # long forgotten by the step too: the ledger still knows it
    again = DecisionRead(block, Origin(topics.decisions, 0, 1), item=first, first=block)
    steps, out = logic.step(steps, again, NOW)
    assert [s for s in out.sends if s.topic == topics.audit] == []
    assert out.done == (Origin(topics.decisions, 0, 1),)


def test_the_steps_record_of_applied_decisions_is_bounded():
    """The step remembers only the latest decisions it applied, however many it applies."""
    topics = Topics()
    logic = ModerationStep(ModerationConfig(), ZONE, topics)
    steps = StepState(view=state(keep_closed=5))
    for n in range(KEEP_APPLIED + 50):
        one = item(n)
        steps.view.add_item(one)
        steps, _ = logic.step(steps, ItemRead(one, Origin(topics.review, 0, n)), NOW)
        read = DecisionRead(decision(one, "dismiss"), Origin(topics.decisions, 0, n))
        steps, _ = logic.step(steps, read, NOW)
    assert len(steps.applied) == KEEP_APPLIED
    assert held(steps.view) <= 5
    assert steps.items == {}


def case(n: int, status: str) -> Case:
    received = NOW - timedelta(hours=n)
    return Case(
        id=f"case-{n}",
        conversation_key=f"facebook:t{n}",
        number=1,
        platform="facebook",
        channel="nherts",
        status=status,
        opened_by=f"facebook:c{n}",
        author_key=f"facebook:a{n}",
        item_id=f"rv-{n}",
        received_at=received,
        due_at=received + timedelta(hours=8),
        target_hours=8.0,
        closed_at=received + timedelta(hours=2) if status == "closed" else None,
        closed_by="replied" if status == "closed" else None,
    )


def test_the_sla_view_holds_open_cases_and_the_latest_closed():
    """The SLA view keeps every open case and only the latest closed ones, so history
    does not grow it; a case that closes leaves the open list at once."""
    view = SlaView(keep_closed=20)
    for n in range(1000):
        view.apply_case(case(n, "open"))
        if n % 100:
            view.apply_case(case(n, "closed"))
    assert len(view.cases()) == 10 + 20
    assert [c.id for c in view.open_cases()] == [f"case-{n}" for n in range(900, -1, -100)]
    assert view.get("case-999") is not None
    assert view.get("case-1") is None
    assert view.counts(NOW)["open"] == 10


def test_a_quiet_conversation_is_held_as_bytes_and_read_back_whole():
    """A conversation with no open case is kept as its state's bytes, left out of what
    the timer walks, read back equal, and still refuses an older state."""
    from records.sla_state import Conversation, SlaState
    from worker.sla.store import PartitionStore

    store = PartitionStore()
    store.begin(0)
    answered = SlaState(seq=3, partition=0, conversation=Conversation(key="facebook:t1"))
    waiting = SlaState(seq=1, partition=0, conversation=Conversation(key="facebook:t2"))
    assert store.put(0, "facebook:t1", answered, quiet=True)
    assert store.put(0, "facebook:t2", waiting)
    assert [key for key, _ in store.active(0)] == ["facebook:t2"]
    assert store.get(0, "facebook:t1") == answered
    assert dict(store.items(0)) == {"facebook:t1": answered, "facebook:t2": waiting}
    assert not store.put(0, "facebook:t1", answered.model_copy(update={"seq": 2}))
    store.quieten(0, "facebook:t2")
    assert list(store.active(0)) == []
    assert len(store) == 2


def test_reading_back_a_closing_record_before_its_item_lets_the_item_go_at_once():
    """While the reader reads the topics back, a record closing an item not read yet
    keeps only the item's id, and the item read after it is not held; once caught up, a
    closing record ahead of its item waits for it again."""
    view = state()
    view.reading_back = True
    view.add_moderation(closed_note("rv-1"))
    view.add_decision(decision(item(2), "hide"))
    view.add_item(item(1))
    view.add_item(item(2))
    assert held(view) == 0
    assert {"rv-1", "rv-2"} <= view.gone
    view.caught_up()
    view.add_moderation(closed_note("rv-3"))
    view.add_item(item(3))
    assert view.get("rv-3") is not None
    assert view.is_closed("rv-3")
