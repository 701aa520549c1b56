"""How the parts write records: a :class:`Producer` protocol, the faust App's producer
behind it in a running worker, and an in-memory one for the tests' middle tier.

A part calls ``await producer.send(topic, key, value)`` and gets back an awaitable that
resolves once the broker has acknowledged the write; a part that must not acknowledge its
input before its outputs are safe awaits those before acking. Topic names are the real
names (``settings.topics``), so the same part runs against either producer unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["FaustProducer", "MemoryProducer", "Producer", "Sent"]


class Producer(Protocol):
    async def send(self, topic: str, key: bytes | None, value: bytes | None) -> Awaitable[Any]:
        """Queue one record; the result resolves when the broker has it (or fails)."""
        ...


class FaustProducer:
    """The faust App's own producer (started and stopped with the App)."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def send(self, topic: str, key: bytes | None, value: bytes | None) -> Awaitable[Any]:
        # The producer directly: faust's Topic.send path costs more than classifying.
        future: Awaitable[Any] = await self._app.producer.send(topic, key, value, None, None, None)
        return future


@dataclass(frozen=True, slots=True)
class Sent:
    topic: str
    key: bytes | None
    value: bytes | None


@dataclass
class MemoryProducer:
    """Keeps what was sent, in order, and acknowledges it at once.

    ``fail`` is asked for each record: return an exception to make that write fail the way
    a broker refusal would (the awaitable raises it), or None to accept it.
    """

    sent: list[Sent] = field(default_factory=list)
    fail: Callable[[Sent], BaseException | None] | None = None

    async def send(self, topic: str, key: bytes | None, value: bytes | None) -> Awaitable[Any]:
        record = Sent(topic, key, value)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        error = self.fail(record) if self.fail is not None else None
        if error is not None:
            future.set_exception(error)
        else:
            self.sent.append(record)
            future.set_result(None)
        return future

    def on(self, topic: str) -> list[Sent]:
        """What was sent to ``topic``, in order."""
        return [s for s in self.sent if s.topic == topic]
