"""The moderation behaviours on the pure step, its outputs through the in-memory producer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from records import ReviewItem, Topics, decode, encode
from records.moderation import Decision
from tests.contract.moderation import NOW, ModerationContract, R, decision, item
from worker.clock import ManualClock
from worker.moderation.policy import ModerationConfig
from worker.moderation.review_view import ModerationState, ReviewView
from worker.moderation.step import (
    DecisionRead,
    ItemRead,
    ModerationStep,
    Origin,
    Outputs,
    ReviewRead,
    StepRecord,
    StepState,
)
from worker.producer import MemoryProducer


class TestOnMemory(ModerationContract):
    """One partition; the whole-topic reader is modelled as caught up with every write,
    except where a behaviour says it lags."""

    @pytest.fixture(autouse=True)
    def backend(self) -> None:
        self.topics = Topics()
        config = ModerationConfig()
        self.state = StepState(view=ModerationState(config=config, clock=ManualClock(NOW)))
        self.logic = ModerationStep(config, ZoneInfo("Europe/London"), self.topics)
        self.producer = MemoryProducer()
        self.logs: dict[str, list[bytes]] = {}

    def _origin(self, topic: str, key: str, value: bytes) -> Origin:
        log = self.logs.setdefault(topic, [])
        log.append(value)
        return Origin(topic, 0, len(log) - 1, key.encode(), value)

    async def _step(self, record: StepRecord) -> None:
        self.state, out = self.logic.step(self.state, record, NOW)
        for send in out.sends:
            await (await self.producer.send(send.topic, send.key, send.value))

    def _review_end(self) -> int:
        return len(self.logs.get(self.topics.review, []))

    async def item(self, record: ReviewItem) -> None:
        origin = self._origin(self.topics.review, record.id, encode(record))
        self.state.view.add_item(record)
        await self._step(ItemRead(record, origin))

    async def decision(self, record: Decision) -> None:
        origin = self._origin(self.topics.decisions, record.item_id, encode(record))
        self.state.view.add_decision(record)
        await self._step(ReviewRead(0, self._review_end()))
        await self._step(DecisionRead(record, origin, self._review_end()))

    async def decision_before_item(self, record: Decision, of: ReviewItem) -> None:
        review = self._origin(self.topics.review, of.id, encode(of))
        origin = self._origin(self.topics.decisions, record.item_id, encode(record))
        # The reader has not reached the item yet; the agent reads the decision first.
        self.state.view.add_decision(record)
        await self._step(DecisionRead(record, origin, self._review_end()))
        assert [d.id for d in self.state.waiting()] == [record.id]
        self.state.view.add_item(of)
        await self._step(ItemRead(of, review))
        assert self.state.waiting() == []

    async def written(
        self, topic: str, record_type: type[R], done: Callable[[list[R]], bool]
    ) -> list[R]:
        got = [decode(s.value, record_type) for s in self.producer.on(topic)]
        assert done(got), f"{topic}: not as expected ({len(got)} records)"
        return got

    async def eventually(self, check: Callable[[], Any], what: str) -> Any:
        value = check()
        assert value, f"not so: {what}"
        return value

    def view(self) -> Any:
        return ReviewView(self.state.view)


def test_a_waiting_decision_is_forgotten_when_its_partition_goes():
    """A decision waiting for its item is dropped when its partition is revoked (its new
    owner reads it again: it was never acknowledged here); others keep waiting."""
    config = ModerationConfig()
    state = StepState(view=ModerationState(config=config, clock=ManualClock(NOW)))
    logic = ModerationStep(config, ZoneInfo("Europe/London"), Topics())
    reads = [
        DecisionRead(decision(item(n), "hide"), Origin("triage.decisions", n, 0), review_end=1)
        for n in (0, 1)
    ]
    for read in reads:
        state, out = logic.step(state, read, NOW)
        assert out == Outputs()
    state.forget({0})
    assert [d.item_id for d in state.waiting()] == ["rv-1"]


def test_the_steps_own_copy_of_an_item_goes_once_the_view_has_it():
    """An item the agent reads before the view's reader does is kept by the step only until
    the reader has it, so the step holds no second copy of the queue."""
    config = ModerationConfig()
    state = StepState(view=ModerationState(config=config, clock=ManualClock(NOW)))
    logic = ModerationStep(config, ZoneInfo("Europe/London"), Topics())
    first = item(1)
    state, _ = logic.step(state, ItemRead(first, Origin("triage.review", 0, 0)), NOW)
    assert list(state.items) == [first.id]
    state.view.add_item(first)
    state, _ = logic.step(state, ReviewRead(0, 1), NOW)
    assert state.items == {}


def urgent(n: int, at: datetime) -> ReviewItem:
    """An urgent-lane item of a post received at ``at``."""
    first = item(n, "flood in the underpass")
    comment = first.comment.model_copy(update={"created_at": at, "received_at": at})
    return first.model_copy(update={"lane": "urgent", "comment": comment})


def test_an_urgent_post_out_of_hours_alerts_on_call_once():
    """An open urgent item whose post came in on a Saturday night writes one
    urgent_out_of_hours alert with no text or author; read again (a replay, or after a
    restart once the reader has the alert, or days later) it writes none; a weekday
    morning's or a closed one none."""
    from records.sla import Alert
    from worker.sla.policy import WorkingTimePolicy
    from worker.sla.worktime import WorkCalendar

    config = ModerationConfig()
    topics = Topics()
    logic = ModerationStep(
        config, ZoneInfo("Europe/London"), topics, WorkCalendar(WorkingTimePolicy())
    )
    state = StepState(view=ModerationState(config=config, clock=ManualClock(NOW)))
    night = urgent(1, datetime(2030, 1, 5, 3, 0, tzinfo=UTC))
    state, out = logic.step(state, ItemRead(night, Origin(topics.review, 0, 0)), NOW)
    [sent] = [s for s in out.sends if s.topic == topics.alerts]
    alert = decode(sent.value, Alert)
    assert (alert.kind, alert.subject, sent.key) == (
        "urgent_out_of_hours",
        night.id,
        f"urgent-ooh-{night.id}".encode(),
    )
    assert "flood" not in alert.model_dump_json()
    assert night.comment.author_key not in alert.model_dump_json()
    assert alert.data["for"] == "on_call"
    state, out = logic.step(state, ItemRead(night, Origin(topics.review, 0, 1)), NOW)
    assert [s for s in out.sends if s.topic == topics.alerts] == []

    # After a restart: a fresh view to which the reader has added the alert topic.
    restarted = StepState(view=ModerationState(config=config, clock=ManualClock(NOW)))
    restarted.view.add_alert(alert)
    _, out = logic.step(restarted, ItemRead(night, Origin(topics.review, 0, 2)), NOW)
    assert [s for s in out.sends if s.topic == topics.alerts] == []

    morning = urgent(2, datetime(2030, 1, 8, 10, 0, tzinfo=UTC))
    _, out = logic.step(state, ItemRead(morning, Origin(topics.review, 0, 3)), NOW)
    assert [s for s in out.sends if s.topic == topics.alerts] == []
    closed = urgent(3, datetime(2030, 1, 5, 4, 0, tzinfo=UTC)).model_copy(
        update={"status": "closed"}
    )
    _, out = logic.step(state, ItemRead(closed, Origin(topics.review, 0, 4)), NOW)
    assert [s for s in out.sends if s.topic == topics.alerts] == []
    # Read again long after (its alert aged off the topic): a replay wakes no one.
    later = datetime(2030, 1, 9, 3, 0, tzinfo=UTC)
    forgotten = StepState(view=ModerationState(config=config, clock=ManualClock(later)))
    _, out = logic.step(forgotten, ItemRead(night, Origin(topics.review, 0, 5)), later)
    assert [s for s in out.sends if s.topic == topics.alerts] == []


def test_while_emergency_mode_is_on_every_urgent_post_alerts_on_call():
    """An urgent post in working hours alerts on-call while emergency mode was on when it
    came in, and says so; one in working hours outside the emergency does not."""
    from records.sla import Alert
    from worker.sla.policy import WorkingTimePolicy
    from worker.sla.worktime import WorkCalendar

    start = datetime(2030, 1, 8, 9, 30, tzinfo=UTC)
    config = ModerationConfig()
    topics = Topics()
    logic = ModerationStep(
        config,
        ZoneInfo("Europe/London"),
        topics,
        WorkCalendar(WorkingTimePolicy()),
        emergency=lambda at: at >= start,
    )
    state = StepState(view=ModerationState(config=config, clock=ManualClock(NOW)))
    before = urgent(1, datetime(2030, 1, 8, 9, 0, tzinfo=UTC))
    _, out = logic.step(state, ItemRead(before, Origin(topics.review, 0, 0)), NOW)
    assert [s for s in out.sends if s.topic == topics.alerts] == []
    during = urgent(2, datetime(2030, 1, 8, 10, 0, tzinfo=UTC))
    _, out = logic.step(state, ItemRead(during, Origin(topics.review, 0, 1)), NOW)
    [sent] = [s for s in out.sends if s.topic == topics.alerts]
    alert = decode(sent.value, Alert)
    assert (alert.kind, alert.subject) == ("urgent_out_of_hours", during.id)
    assert alert.data["emergency"] is True
    assert "while emergency mode is on" in alert.message
