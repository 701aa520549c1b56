"""The webhook spool: accepted comments on local disk until Kafka has confirmed them.

A webhook connector answers 200 only after the comments of a request are written here and
fsynced, so a connector killed during a Kafka outage loses nothing it accepted: on the next
start the spool is read back, what the state file says was delivered is dropped, and the
rest is sent again. Entries are JSON lines in segment files (``<n>.jsonl``), appended in the
order the sink sends them; the sink reports how many from the head Kafka confirmed, and a
segment is deleted once all of its lines are confirmed.

A line torn by a crash mid-write belongs to a request that was never answered 200, so it
is skipped at recovery; any other unreadable line stops the connector (the disk, or
someone, damaged the file), naming the segment and line.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from pydantic import ValidationError

from connectors.sink import Outgoing
from records import Comment

log = structlog.get_logger(__name__)

SEGMENT_BYTES = 4 * 1024 * 1024


class SpoolError(RuntimeError):
    """The spool cannot be read back; refusing to start beats dropping accepted comments."""


@dataclass(slots=True)
class _Segment:
    path: Path
    lines: int = 0
    size: int = 0


class Spool:
    """Append (fsync'd), confirm from the head, recover on start. Thread-safe: appends run
    in a worker thread so that an fsync does not hold up the event loop."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._segments: deque[_Segment] = deque()
        self._confirmed = 0  # lines of the head segment Kafka has confirmed
        self._lock = threading.Lock()
        self._next = 0

    @property
    def pending(self) -> int:
        """Lines written and not yet confirmed."""
        with self._lock:
            return sum(s.lines for s in self._segments) - self._confirmed

    def recover(self, delivered: Callable[[str], bool]) -> list[Outgoing]:
        """Everything spooled and not ``delivered``, oldest first, rewritten as one segment."""
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            old = sorted(self.directory.glob("*.jsonl"), key=_segment_number)
            items: list[Outgoing] = []
            for path in old:
                items.extend(_read_segment(path, last=path == old[-1]))
            kept = [item for item in items if not delivered(item.dedup_key)]
            self._segments.clear()
            self._confirmed = 0
            self._next = (_segment_number(old[-1]) + 1) if old else 0
            if kept:
                self._write(kept)
            for path in old:
                path.unlink()
            _fsync_dir(self.directory)
        if items:
            log.info(
                "spooled comments recovered", recovered=len(kept), delivered=len(items) - len(kept)
            )
        return kept

    def append(self, items: list[Outgoing]) -> None:
        """Write ``items`` and fsync them; when this returns they survive a crash."""
        if not items:
            return
        with self._lock:
            self._write(items)

    def confirmed(self, count: int) -> None:
        """The first ``count`` unconfirmed lines are on Kafka (in the order written)."""
        with self._lock:
            self._confirmed += count

    def release(self) -> None:
        """Delete segments whose every line is confirmed."""
        with self._lock:
            removed = False
            while self._segments and self._confirmed >= self._segments[0].lines:
                segment = self._segments.popleft()
                self._confirmed -= segment.lines
                segment.path.unlink(missing_ok=True)
                removed = True
            if removed:
                _fsync_dir(self.directory)

    def _write(self, items: list[Outgoing]) -> None:
        data = b"".join(_line(item) for item in items)
        segment = self._segments[-1] if self._segments else None
        fresh = segment is None or segment.size + len(data) > SEGMENT_BYTES
        if fresh:
            self.directory.mkdir(parents=True, exist_ok=True)
            segment = _Segment(self.directory / f"{self._next:012d}.jsonl")
            self._next += 1
            self._segments.append(segment)
        assert segment is not None
        with open(segment.path, "ab") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if fresh:
            _fsync_dir(self.directory)  # the new file's name must survive a crash too
        segment.lines += len(items)
        segment.size += len(data)


def _line(item: Outgoing) -> bytes:
    entry = {"key": item.dedup_key, "comment": item.comment.to_json_dict()}
    return json.dumps(entry, separators=(",", ":")).encode("utf-8") + b"\n"


def _read_segment(path: Path, *, last: bool) -> list[Outgoing]:
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    torn = lines.pop()  # after the final newline: empty, or a line cut short by a crash
    if torn and not last:
        raise SpoolError(f"spool segment {path.name}: damaged end of file")
    if torn:
        log.warning("spool: skipping a line cut short by a crash", segment=path.name)
    out = []
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            comment = Comment.model_validate(entry["comment"])
            key = entry["key"]
            if not isinstance(key, str):
                raise TypeError("key")
        except (ValueError, KeyError, TypeError, ValidationError):
            raise SpoolError(f"spool segment {path.name}: line {number} is unreadable") from None
        out.append(Outgoing(comment, key))
    return out


def _segment_number(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        raise SpoolError(f"unexpected file in the spool folder: {path.name}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
