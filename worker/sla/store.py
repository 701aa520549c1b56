"""Where the SLA part keeps each conversation's state: a compacted topic, read whole.

Why not a faust Table: on the embedded broker a restarted worker's table recovery never
finished reading its changelog (measured: the recovery offsets stayed at -1), so the
worker never became ready. This store does the same job with a plain reader: every
worker follows ``triage.sla-state`` from the start, keeps the latest state per
conversation in memory, and handles no event until it has read what was there at start.
Each state carries a sequence number, so an older copy read back late never replaces a
newer one written here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

from records import InvalidRecord, decode
from worker.sla.cases import Conversation


class Stored(BaseModel):
    """A conversation's state, with what was last published of its cases."""

    model_config = ConfigDict(frozen=True)

    seq: int = 0
    partition: int
    conversation: Conversation
    # case id -> digest of the version last written to triage.cases
    published: dict[str, str] = {}


class StateStore:
    def __init__(self) -> None:
        self._data: dict[str, Stored] = {}
        self._ready: asyncio.Event | None = None
        self._syncs: asyncio.Queue[asyncio.Event] | None = None

    @property
    def ready(self) -> asyncio.Event:
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    @property
    def syncs(self) -> asyncio.Queue[asyncio.Event]:
        """Barriers for the reader (``follow_topic``): each is set once it has caught up."""
        if self._syncs is None:
            self._syncs = asyncio.Queue()
        return self._syncs

    async def sync(self, within_s: float) -> bool:
        """Until the reader has read all that is on the state topic now; False on timeout.

        A worker given new partitions calls this first, so that it acts on the state the
        previous owner wrote last, not on a copy a moment older.
        """
        reached = asyncio.Event()
        self.syncs.put_nowait(reached)
        try:
            await asyncio.wait_for(reached.wait(), within_s)
        except TimeoutError:
            return False
        return True

    def get(self, key: str) -> Stored | None:
        return self._data.get(key)

    def put(self, key: str, stored: Stored) -> bool:
        """Keep ``stored`` unless a newer state is held; True when it was kept."""
        held = self._data.get(key)
        if held is not None and held.seq >= stored.seq:
            return False
        self._data[key] = stored
        return True

    def on_record(self, key: bytes | None, value: bytes | None) -> None:
        """Keep one record of the state topic; InvalidRecord when it is unreadable."""
        if value is None:
            return  # a tombstone: compaction's way of forgetting a conversation
        if key is None:
            raise InvalidRecord("no key (the conversation key)")
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRecord("key is not UTF-8") from None
        self.put(text, decode(value, Stored))

    def items(self) -> Iterator[tuple[str, Stored]]:
        return iter(list(self._data.items()))

    def __len__(self) -> int:
        return len(self._data)
