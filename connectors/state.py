"""Durable connector state: cursors and recently delivered keys, in one JSON file.

Why a state file and not a compacted topic: the cursor has to outlive the broker too (the
embedded broker keeps data in memory only, so a compacted topic there would forget the
cursor on every broker restart and the connector would replay or skip a whole timeline),
and one small file written atomically after Kafka confirms a batch is simple to inspect and
to back up. The file is replaced by rename after an fsync, so a crash leaves the old or the
new state, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

STATE_VERSION = 1


class StateError(RuntimeError):
    """The state file exists but cannot be read; refusing to start beats a silent replay."""


class ConnectorState:
    """Cursors by name and a bounded, insertion-ordered set of delivered keys."""

    def __init__(self, path: Path, max_seen: int = 50_000) -> None:
        self.path = path
        self.max_seen = max_seen
        self._cursors: dict[str, str] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._extra: dict[str, dict[str, str]] = {}
        self._dirty = False

    @classmethod
    def load(cls, path: Path, max_seen: int = 50_000) -> ConnectorState:
        state = cls(path, max_seen)
        if not path.exists():
            return state
        try:
            raw: Any = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(f"cannot read connector state {path.name}: {exc}") from None
        if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
            raise StateError(f"connector state {path.name} has an unknown format")
        state._cursors = {str(k): str(v) for k, v in dict(raw.get("cursors", {})).items()}
        for key in list(raw.get("seen", []))[-max_seen:]:
            state._seen[str(key)] = None
        state._extra = {
            str(name): {str(k): str(v) for k, v in dict(table).items()}
            for name, table in dict(raw.get("maps", {})).items()
        }
        return state

    # Cursors (since_id and the like).
    def cursor(self, name: str) -> str | None:
        return self._cursors.get(name)

    def set_cursor(self, name: str, value: str) -> None:
        if self._cursors.get(name) != value:
            self._cursors[name] = value
            self._dirty = True

    def clear_cursor(self, name: str) -> None:
        if self._cursors.pop(name, None) is not None:
            self._dirty = True

    # Delivered keys, for deduplication across retries and restarts.
    def seen(self, key: str) -> bool:
        return key in self._seen

    def mark_seen(self, keys: list[str] | tuple[str, ...]) -> None:
        for key in keys:
            self._seen[key] = None
            self._seen.move_to_end(key)
            self._dirty = True
        while len(self._seen) > self.max_seen:
            self._seen.popitem(last=False)

    # Small lookup tables a connector needs across restarts (status id -> thread id).
    def lookup(self, table: str, key: str) -> str | None:
        return self._extra.get(table, {}).get(key)

    def remember(self, table: str, key: str, value: str, limit: int = 50_000) -> None:
        entries = self._extra.setdefault(table, {})
        entries.pop(key, None)
        entries[key] = value
        while len(entries) > limit:
            entries.pop(next(iter(entries)))
        self._dirty = True

    def save(self) -> None:
        """Write atomically (temp file, fsync, rename); a no-op when nothing changed."""
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": STATE_VERSION,
            "cursors": self._cursors,
            "seen": list(self._seen),
            "maps": self._extra,
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(payload, out, separators=(",", ":"))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._dirty = False
