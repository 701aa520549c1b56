"""Where the SLA part keeps each conversation's state: per partition, recovered on assignment.

``triage.sla-state`` is keyed by conversation key like ``triage.verdicts`` and
``triage.sla-events``, so the state of the conversations on verdict partition ``p`` is on
state partition ``p``. A worker given partition ``p`` reads state partition ``p`` from the
start up to the end offset it had when the assignment came (:func:`recover_partition`),
and handles no event of ``p`` until then; the other partitions carry on meanwhile. While
it owns ``p`` it is the only writer of its state, so what it holds stays current.

A conversation with no open case (most of them: the answered ones) is held as the bytes
of its state, about a seventh of the decoded object, and read back only when an event
of it comes; the timer walks the others alone (:meth:`PartitionStore.active`).

There is no time limit on a recovery: a partition whose state cannot be read waits (the
reader retries on broker errors), rather than act on an older state and repeat an alert.

Why not a faust Table: on the embedded broker a restarted worker's table recovery never
finished reading its changelog (measured: the recovery offsets stayed at -1), so the
worker never became ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from records import InvalidRecord, decode
from records.kafka import KafkaConnection
from records.sla_state import SlaState

__all__ = ["PartitionStore", "recover_partition"]

log = structlog.get_logger(__name__)

RETRY_S = 2.0
"""Pause before a recovery starts again after a broker error."""

OnInvalid = Callable[[Any, str], Awaitable[None]]


class PartitionStore:
    """The states of the conversations of the partitions this worker owns, by partition."""

    def __init__(self) -> None:
        self._data: dict[int, dict[str, SlaState]] = {}
        # The quiet conversations (no open case): their sequence number and state's JSON.
        self._quiet: dict[int, dict[str, tuple[int, bytes]]] = {}
        self._ready: dict[int, asyncio.Event] = {}

    def ready_event(self, partition: int) -> asyncio.Event:
        """Set once ``partition``'s state has been recovered (cleared while it is read)."""
        event = self._ready.get(partition)
        if event is None:
            event = self._ready[partition] = asyncio.Event()
        return event

    def is_ready(self, partition: int) -> bool:
        return partition in self._ready and self._ready[partition].is_set()

    def ready_partitions(self) -> set[int]:
        return {p for p, event in self._ready.items() if event.is_set()}

    def begin(self, partition: int) -> None:
        """``partition`` is being (re)read: forget what was held and hold its events."""
        self.ready_event(partition).clear()
        self._data[partition] = {}
        self._quiet[partition] = {}

    def done(self, partition: int) -> None:
        self.ready_event(partition).set()

    def drop(self, partition: int) -> None:
        """``partition`` went to another worker: its states are that worker's now."""
        self.ready_event(partition).clear()
        self._data.pop(partition, None)
        self._quiet.pop(partition, None)

    def get(self, partition: int, key: str) -> SlaState | None:
        state = self._data.get(partition, {}).get(key)
        if state is not None:
            return state
        quiet = self._quiet.get(partition, {}).get(key)
        return SlaState.model_validate_json(quiet[1]) if quiet is not None else None

    def put(self, partition: int, key: str, state: SlaState, *, quiet: bool = False) -> bool:
        """Keep ``state`` unless a newer one is held; True when it was kept. A ``quiet``
        state (no open case) is kept as its bytes."""
        held = self._data.setdefault(partition, {})
        asleep = self._quiet.setdefault(partition, {})
        old = held.get(key)
        seq = old.seq if old is not None else asleep.get(key, (-1, b""))[0]
        if (old is not None or key in asleep) and seq >= state.seq:
            return False
        if quiet:
            held.pop(key, None)
            asleep[key] = (state.seq, state.model_dump_json().encode())
        else:
            asleep.pop(key, None)
            held[key] = state
        return True

    def quieten(self, partition: int, key: str) -> None:
        """Hold the conversation's state as bytes (it has no open case)."""
        state = self._data.get(partition, {}).pop(key, None)
        if state is not None:
            self._quiet.setdefault(partition, {})[key] = (
                state.seq,
                state.model_dump_json().encode(),
            )

    def active(self, partition: int) -> Iterator[tuple[str, SlaState]]:
        """The conversations not held quiet (those that may have an open case)."""
        return iter(list(self._data.get(partition, {}).items()))

    def on_record(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        """Keep one record of the state topic; InvalidRecord when it is unreadable."""
        if value is None:
            return  # a tombstone: compaction's way of forgetting a conversation
        if key is None:
            raise InvalidRecord("no key (the conversation key)")
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRecord("key is not UTF-8") from None
        self.put(partition, text, decode(value, SlaState))

    def items(self, partition: int) -> Iterator[tuple[str, SlaState]]:
        """Every conversation held, the quiet ones read back."""
        quiet = self._quiet.get(partition, {})
        decoded = [(k, SlaState.model_validate_json(v)) for k, (_, v) in quiet.items()]
        return iter([*self._data.get(partition, {}).items(), *decoded])

    def __len__(self) -> int:
        held = sum(len(states) for states in self._data.values())
        return held + sum(len(states) for states in self._quiet.values())


async def recover_partition(
    kafka: KafkaConnection,
    topic: str,
    partition: int,
    store: PartitionStore,
    *,
    on_invalid: OnInvalid | None = None,
    poll_ms: int = 200,
) -> int:
    """Read ``topic``'s ``partition`` from the start up to its end offset now, into
    ``store``; returns the number of records read. A broker error starts it again."""
    while True:
        try:
            return await _read_to_end(
                kafka, topic, partition, store, on_invalid=on_invalid, poll_ms=poll_ms
            )
        except (KafkaError, OSError) as exc:
            log.warning(
                "sla state recovery failed; retrying",
                partition=partition,
                error=type(exc).__name__,
            )
            await asyncio.sleep(RETRY_S)


async def _read_to_end(
    kafka: KafkaConnection,
    topic: str,
    partition: int,
    store: PartitionStore,
    *,
    on_invalid: OnInvalid | None,
    poll_ms: int,
) -> int:
    store.begin(partition)
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        **kafka.options(), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    read = 0
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=poll_ms)
            for record in batch.get(tp, []):
                read += 1
                await _keep(store, partition, record, on_invalid)
    finally:
        await consumer.stop()
    return read


async def _keep(
    store: PartitionStore, partition: int, record: Any, on_invalid: OnInvalid | None
) -> None:
    try:
        store.on_record(partition, record.key, record.value)
    except InvalidRecord as exc:  # a bad record must not stop the recovery
        log.warning(
            "unreadable sla state skipped",
            reason=exc.reason,
            partition=record.partition,
            offset=record.offset,
        )
        if on_invalid is not None:
            await on_invalid(record, exc.reason)
