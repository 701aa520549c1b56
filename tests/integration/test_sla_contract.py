"""The reply-tracking contract on a worker running on the embedded broker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from records import Comment, ReviewItem, decode
from records.moderation import Decision
from records.sla import Alert, Case
from tests.contract.sla import SlaContract, at
from tests.polling import until
from worker.clock import ManualClock

pytestmark = pytest.mark.integration


async def scans_pass(worker: Any, n: int = 3) -> None:
    """Wait until the SLA timer has run ``n`` more times."""
    keeper = worker.ctx.views.sla_keeper
    target = keeper.scans + n
    await until(lambda: keeper.scans >= target, f"{n} timer scans")


class BrokerSla:
    """A worker on the session broker; records are read back from its topics."""

    def __init__(self, start: Any, produce: Any, read_topic: Any, topic_size: Any) -> None:
        self._start = start
        self._produce = produce
        self._read = read_topic
        self._size = topic_size
        self.clock = ManualClock(at("2026-11-23T09:00"))
        self.worker: Any = None

    async def begin(self) -> BrokerSla:
        self.worker = await self._start(clock=self.clock)
        return self

    @property
    def topics(self) -> Any:
        return self.worker.topics

    async def send_comment(self, comment: Comment) -> None:
        await self._produce(self.topics.comments, [comment], key=comment.conversation_key)

    async def send_decision(self, decision: Decision) -> None:
        await self._produce(self.topics.decisions, [decision], key=decision.item_id)

    async def advance(self, when: datetime) -> None:
        self.clock.set(when)

    async def quiet(self) -> None:
        await scans_pass(self.worker, 4)

    async def cases(self, n: int) -> list[Case]:
        return list(await self._read(self.topics.cases, n, Case))

    async def alerts(self, n: int) -> list[Alert]:
        return list(await self._read(self.topics.alerts, n, Alert))

    async def alert_count(self) -> int:
        return int(await self._size(self.topics.alerts))

    async def officers_item(self, item_id: str, done: Callable[[ReviewItem], bool]) -> ReviewItem:
        review = self.worker.ctx.views.review

        def seen() -> ReviewItem | None:
            item = review.get(item_id)
            return item if item is not None and done(item) else None

        found: ReviewItem = await until(seen, f"officers to see {item_id} as expected")
        return found

    async def review_writes(self, item_id: str) -> int:
        await self.quiet()
        size = await self._size(self.topics.review)
        records = await self._read(self.topics.review, size)
        return sum(1 for r in records if decode(r.value, ReviewItem).id == item_id)

    async def restart(self) -> None:
        await self.worker.app.stop()
        self.worker = await self._start(clock=self.clock)


class TestSlaOnBroker(SlaContract):
    @pytest.fixture
    async def sla(self, running_worker, produce, read_topic, topic_size) -> BrokerSla:
        return await BrokerSla(running_worker, produce, read_topic, topic_size).begin()
