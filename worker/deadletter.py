"""Dead letters and the breaker, for every agent.

A record an agent cannot read goes to ``triage.deadletter`` with its original bytes and
where it came from, and the agent carries on. When most of a recent window is bad, the
fault is upstream (a bad deploy, a wrong topic) and dead-lettering everything would only
hide it, so the :class:`Breaker` stops the worker instead.

Use from an agent::

    dead = DeadLetters(rt, agent="sla")
    breaker = Breaker.from_settings(rt.settings)
    comment = await decode_or_dead_letter(event, Comment, dead, breaker)
    if comment is None:
        ...  # it was dead-lettered; ack the event and move on
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from pydantic import BaseModel

from records import DeadLetter, InvalidRecord, decode, encode

if TYPE_CHECKING:
    from worker.runtime import Runtime
    from worker.settings import Settings

__all__ = [
    "Breaker",
    "BreakerTripped",
    "DeadLetters",
    "ReaderDeadLetters",
    "decode_or_dead_letter",
]

log = structlog.get_logger(__name__)

R = TypeVar("R", bound=BaseModel)


class BreakerTripped(RuntimeError):
    """Too many invalid records in a row of recent ones: the worker must stop."""

    # Its message holds counts only, so the fatal flag may show it (worker/runtime.py).
    safe_message = True


class Breaker:
    """Counts good and bad records over the last ``window``; trips at ``max_invalid_ratio``.

    It trips once at least ``max_invalid_ratio * window`` of the last ``window`` records
    were invalid, so a burst of bad records at start-up trips it as soon as the ratio can
    no longer be met, while a trickle of bad ones never does.
    """

    def __init__(self, window: int, max_invalid_ratio: float) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if not 0 < max_invalid_ratio <= 1:
            raise ValueError("max_invalid_ratio must be in (0, 1]")
        self.window = window
        self.max_invalid_ratio = max_invalid_ratio
        self._limit = max(1, round(window * max_invalid_ratio))
        self._recent: deque[bool] = deque(maxlen=window)
        self._invalid = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Breaker:
        return cls(settings.breaker_window, settings.breaker_max_invalid_ratio)

    @property
    def invalid_in_window(self) -> int:
        return self._invalid

    @property
    def limit(self) -> int:
        """Invalid records in the window at which it trips."""
        return self._limit

    def record(self, ok: bool) -> None:
        """Count one record; raises :class:`BreakerTripped` when the limit is reached."""
        if len(self._recent) == self.window and not self._recent[0]:
            self._invalid -= 1
        self._recent.append(ok)
        if not ok:
            self._invalid += 1
        if self._invalid >= self._limit:
            raise BreakerTripped(
                f"{self._invalid} of the last {len(self._recent)} records were invalid "
                f"(limit {self._limit} in a window of {self.window}): stopping rather than "
                "dead-lettering everything; check what is producing to the input topic"
            )


class DeadLetters:
    """Sends refused records to the dead-letter topic; one per agent."""

    def __init__(self, rt: Runtime, agent: str) -> None:
        self.rt = rt
        self.agent = agent

    async def send(self, event: Any, reason: str) -> Any:
        """Dead-letter a faust event's message; returns the send's future (await it)."""
        message = event.message
        return await self.send_raw(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=_as_bytes(message.key),
            value=_as_bytes(message.value),
            error=reason,
        )

    async def send_raw(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        error: str,
    ) -> Any:
        letter = DeadLetter.of(
            agent=self.agent,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            value=value,
            error=error,
            at=self.rt.clock.now(),
        )
        # The reason names fields, never their values, so it is safe to log.
        log.warning("record dead-lettered", agent=self.agent, reason=letter.error)
        self.rt.metrics.dead_letters.labels(agent=self.agent).inc()
        return await self.rt.producer.send(self.rt.settings.topics.deadletter, key, encode(letter))


class ReaderDeadLetters:
    """For a reader that reads a whole topic from the start: dead-letters each record it
    cannot read once per process (a reader reads the topic again after a broker error).

    Every worker reads such a topic, and reads it again at each start, so one bad record
    may be dead-lettered once per worker and start; the copies share topic, partition and
    offset. That is the price of not losing sight of it where no agent reads the topic.
    """

    def __init__(self, dead: DeadLetters) -> None:
        self.dead = dead
        self._sent: set[tuple[str, int, int]] = set()

    async def __call__(self, record: Any, reason: str) -> None:
        where = (record.topic, record.partition, record.offset)
        if where in self._sent:
            return
        self._sent.add(where)
        await (
            await self.dead.send_raw(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=_as_bytes(record.key),
                value=_as_bytes(record.value),
                error=reason,
            )
        )


async def decode_or_dead_letter(
    event: Any, record_type: type[R], dead: DeadLetters, breaker: Breaker
) -> R | None:
    """Decode an event's value; on failure dead-letter it (awaited) and return None.

    Raises :class:`BreakerTripped` when the breaker trips; the record that tripped it
    is not dead-lettered, so it is read again after the fault is fixed.
    """
    try:
        record = decode(_as_bytes(event.message.value), record_type)
    except InvalidRecord as exc:
        _count(breaker, dead, ok=False)
        await (await dead.send(event, exc.reason))
        return None
    _count(breaker, dead, ok=True)
    return record


def _count(breaker: Breaker, dead: DeadLetters, *, ok: bool) -> None:
    # The gauges are set even when the breaker trips, for the scrape before the stop.
    try:
        breaker.record(ok)
    finally:
        metrics = dead.rt.metrics
        metrics.breaker_invalid.labels(agent=dead.agent).set(breaker.invalid_in_window)
        metrics.breaker_limit.labels(agent=dead.agent).set(breaker.limit)


def _as_bytes(data: Any) -> bytes | None:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)
