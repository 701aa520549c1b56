"""What every part of a running worker uses: the :class:`Runtime` (settings, clock,
metrics, the App, the fatal flag, the faust topics), and the guard that turns an agent's
error into a stop of the whole worker.

worker/app.py builds these and registers the agents; the agents import this module, never
worker/app.py, so that nothing imports the place where everything is wired.
"""

from __future__ import annotations

import asyncio
import functools
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from records import InvalidRecord
from records.topics import TopicSpec
from worker.clock import Clock
from worker.metrics import Metrics
from worker.producer import Producer
from worker.settings import Settings

__all__ = [
    "Channels",
    "Fatal",
    "Runtime",
    "describe",
    "stops_worker",
    "topic_options",
]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Channels:
    """The App's faust topics (raw bytes in and out: records are decoded by the agents)."""

    comments: Any
    verdicts: Any
    review: Any
    decisions: Any
    cases: Any
    alerts: Any
    audit: Any
    labels: Any
    deadletter: Any


class Fatal:
    """Set by a part that must stop the whole worker: the dead-letter breaker, or an
    agent, reader or background task that failed. ``/ready`` then answers 503 and
    ``triage run`` exits non-zero, so that a supervisor starts it again."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.part: str | None = None
        self._event: asyncio.Event | None = None

    @property
    def event(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def set(self, error: BaseException, part: str | None = None) -> None:
        if self.error is None:
            self.error = error
            self.part = part
            log.error("worker stopping", part=part, error=describe(error), where=_where(error))
        self.event.set()

    @property
    def reason(self) -> str:
        """What stopped the worker, fit for a log or a terminal (no record contents)."""
        if self.error is None:
            return ""
        prefix = f"{self.part} failed: " if self.part else ""
        return prefix + describe(self.error)


# Errors whose messages are written to be shown: they name fields and counts, not values.
_SAFE_MESSAGES: tuple[type[BaseException], ...] = (InvalidRecord,)


def describe(error: BaseException) -> str:
    """An error in words that hold no record contents (a bug's message might quote one)."""
    if isinstance(error, _SAFE_MESSAGES) or getattr(error, "safe_message", False):
        return str(error)
    return type(error).__name__


def _where(error: BaseException) -> list[str]:
    # Code locations only (file:line in function), never the message or local values.
    frames = traceback.extract_tb(error.__traceback__)[-5:]
    return [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames]


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True, slots=True)
class Runtime:
    """What ``create_app`` builds once per App and hands to each part's constructors."""

    settings: Settings
    clock: Clock
    metrics: Metrics
    # The faust App: its assignor says which partitions are ours.
    app: Any
    # Writes every output: the App's producer, or an in-memory one in the middle tier.
    producer: Producer
    fatal: Fatal
    channels: Channels
    # Every topic's settings (records/topics.py) with the policy's retention periods.
    specs: Mapping[str, TopicSpec]


def stops_worker(fatal: Fatal, part: str) -> Callable[[F], F]:
    """Wrap an agent, timer or task body so that any error it ends with sets the fatal
    flag instead of ending it quietly (faust would restart an agent on the same record)."""

    def wrap(body: F) -> F:
        @functools.wraps(body)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return await body(*args, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - not swallowed: a bug stops the worker
                fatal.set(exc, part)
                return None

        return guarded  # type: ignore[return-value]

    return wrap


def topic_options(settings: Settings, spec: TopicSpec) -> dict[str, Any]:
    """faust ``app.topic`` arguments that create the topic as ``spec`` says."""
    return {
        # internal=True makes faust create the topic with these settings at start-up.
        "internal": True,
        "partitions": 1 if spec.single_partition else settings.partitions,
        "replicas": settings.replication_factor,
        "config": spec.configs(),
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
