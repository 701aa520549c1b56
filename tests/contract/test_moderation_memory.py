"""The moderation behaviours on the pure step, its outputs through the in-memory producer."""

from __future__ import annotations

from collections.abc import Callable
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
