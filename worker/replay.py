"""Replaying a feed onto ``social.comments``: JSON Lines or CSV in, Comments out.

JSON Lines hold full Comments, or templates with ``offset_minutes`` (minutes relative to
the replay) instead of ``created_at``/``received_at``. CSV rows are mapped to Comment
fields by column name (``author.id`` style names for the author); a mapping renames
columns. Every record is validated before anything is sent.
"""

from __future__ import annotations

import asyncio
import csv
import json
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from records import Comment, encode
from records.kafka import KafkaConnection

__all__ = ["ProgressFn", "ReplayError", "load_feed", "replay"]

ProgressFn = Callable[[int, int], None]

# CSV columns that are booleans or nested under ``author``.
_AUTHOR_FIELDS = ("id", "handle", "name", "is_council")


class ReplayError(ValueError):
    """A line of the feed is not a valid Comment; the message names the line."""


def load_feed(
    path: Path, *, now: datetime, mapping: Mapping[str, str] | None = None
) -> list[Comment]:
    """Every Comment in the file, in file order; raises ReplayError on the first bad line."""
    is_csv = path.suffix.lower() == ".csv"
    rows = _csv_rows(path, mapping or {}) if is_csv else _jsonl_rows(path)
    comments = []
    for line, row in rows:
        try:
            comments.append(Comment.model_validate(_fill_times(row, now)))
        except ValidationError as exc:
            raise ReplayError(f"{path.name} line {line}: {_fields(exc)}") from None
    return comments


def _fields(exc: ValidationError) -> str:
    # Field names and messages only: a feed's values are personal data.
    errors = exc.errors(include_url=False, include_input=False)[:3]
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(record)'}: {e['msg']}" for e in errors)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ReplayError(f"{path.name} line {number}: not JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise ReplayError(f"{path.name} line {number}: expected a JSON object")
            yield number, row


def _csv_rows(path: Path, mapping: Mapping[str, str]) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for number, raw in enumerate(reader, start=2):
            row: dict[str, Any] = {"author": {}}
            for column, value in raw.items():
                field = mapping.get(column, column)
                if value in (None, ""):
                    continue
                if field.startswith("author."):
                    key = field.removeprefix("author.")
                    if key in _AUTHOR_FIELDS:
                        row["author"][key] = value
                else:
                    row[field] = value
            if "is_council" in row["author"]:
                flag = str(row["author"]["is_council"]).strip().lower()
                row["author"]["is_council"] = flag in {"1", "true", "yes", "y"}
            row.setdefault("kind", "comment")
            row.setdefault("thread_id", row.get("id"))
            yield number, row


def _fill_times(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    if "offset_minutes" not in row:
        return row
    row = dict(row)
    offset = row.pop("offset_minutes")
    try:
        created = now + timedelta(minutes=float(offset))
    except (TypeError, ValueError):
        return {**row, "created_at": None}  # fails validation with a clear message
    row.setdefault("created_at", created.isoformat())
    # Connectors take a few seconds to notice a post.
    row.setdefault("received_at", (created + timedelta(seconds=5)).isoformat())
    return row


async def replay(
    comments: list[Comment],
    *,
    kafka: KafkaConnection,
    topic: str,
    rate: float | None = None,
    progress: ProgressFn | None = None,
) -> int:
    """Produce each comment keyed by its conversation; ``rate`` limits comments per second.

    Returns the number sent; every send is acknowledged by the broker before returning.
    """
    producer = AIOKafkaProducer(**kafka.options(), acks="all", linger_ms=5)
    await producer.start()
    sent = 0
    started = time.monotonic()
    try:
        pending = []
        for comment in comments:
            if rate:
                # Pace against the start, so a slow send does not slow the whole replay.
                due = started + sent / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.append(
                await producer.send(topic, encode(comment), key=comment.conversation_key.encode())
            )
            sent += 1
            if progress is not None and (rate or sent % 50 == 0):
                progress(sent, len(comments))
        await asyncio.gather(*pending)
        if progress is not None:
            progress(sent, len(comments))
    finally:
        await producer.stop()
    return sent
