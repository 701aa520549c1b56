"""The moderation behaviours on a worker on the embedded broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from records import ReviewItem, decode, encode
from records.base import Record
from records.moderation import Decision
from tests.contract.moderation import NOW, ModerationContract, R
from tests.polling import until
from worker.broker import EmbeddedBroker
from worker.clock import ManualClock
from worker.moderation.agent import register

pytestmark = pytest.mark.integration

WAIT_S = 60.0


class TestOnBroker(ModerationContract):
    """Records go onto the real topics; the worker's own agent and reader handle them."""

    @pytest.fixture(autouse=True)
    async def backend(
        self, monkeypatch: pytest.MonkeyPatch, broker: EmbeddedBroker, running_worker: Any
    ) -> Any:
        # The triage and moderation parts only: the SLA part has its own tests.
        monkeypatch.setattr("worker.app.PARTS", (register,))
        self.worker = await running_worker(clock=ManualClock(NOW))
        self.topics = self.worker.topics
        views = self.worker.ctx.views
        await asyncio.wait_for(views.moderation_reader.wait_caught_up(), WAIT_S)
        self.agent = views.moderation
        self.producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        await self.producer.start()
        yield
        await self.producer.stop()

    @pytest.fixture(autouse=True)
    def reader(self, read_topic_until: Any) -> None:
        self.read_until = read_topic_until

    async def _put(self, topic: str, key: str, record: Record) -> None:
        sent = await self.producer.send_and_wait(topic, encode(record), key=key.encode())
        where = (topic, sent.partition)
        await until(
            lambda: self.agent.read.get(where, 0) > sent.offset,
            f"the agent past {topic} offset {sent.offset}",
            WAIT_S,
        )

    async def item(self, record: ReviewItem) -> None:
        await self._put(self.topics.review, record.id, record)

    async def decision(self, record: Decision) -> None:
        await self._put(self.topics.decisions, record.item_id, record)

    async def decision_before_item(self, record: Decision, of: ReviewItem) -> None:
        # Both are written before either is handled; the fetches decide the read order.
        await self.producer.send_and_wait(self.topics.review, encode(of), key=of.id.encode())
        await self.decision(record)
        await until(lambda: self.agent.state.waiting() == [], "no decision waiting", WAIT_S)

    async def written(
        self, topic: str, record_type: type[R], done: Callable[[list[R]], bool]
    ) -> list[R]:
        got = await self.read_until(
            topic, lambda raw: done([decode(m.value, record_type) for m in raw]), WAIT_S
        )
        return [decode(m.value, record_type) for m in got]

    async def eventually(self, check: Callable[[], Any], what: str) -> Any:
        return await until(check, what, WAIT_S)

    def view(self) -> Any:
        return self.worker.ctx.views.review
