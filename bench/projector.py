"""The read side's write speed: ``python -m bench.projector`` from the repository root.

For each database (a temporary SQLite file; with ``--postgres`` also a throwaway
PostgreSQL server, which needs Debian's postgresql package), it folds ``--records`` review
items in the projector's batches of 1,000 (first reading), then the same records again
(a replay, which must change nothing), and times the sign-in limiter's reserve. It
prints one line per database. No broker is involved: this is the database side alone.
Nothing here is a test.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from records import ReviewItem
from records.codec import encode
from worker.clock import ManualClock
from worker.db import Database, upgrade
from worker.db.projector import Folder
from worker.settings import Settings
from worker.web.session import LoginLimiter

BATCH = 1000
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None


def messages(topic: str, count: int) -> list[Message]:
    out = []
    for i in range(count):
        at = START + timedelta(seconds=i)
        item = ReviewItem.model_validate(
            {
                "schema": 1,
                "id": f"item-{i}",
                "lane": ("moderation", "response", "urgent")[i % 3],
                "comment": {
                    "schema": 1,
                    "id": f"c{i}",
                    "platform": "facebook",
                    "channel": "nherts",
                    "kind": "comment",
                    "thread_id": f"t{i % 5000}",
                    "author": {"id": f"a{i % 10_000}"},
                    "text": f"My bin was missed again on street {i}, when will it be collected?",
                    "created_at": at,
                    "received_at": at,
                },
                "created_at": at,
            }
        )
        out.append(Message(topic, i % 4, i // 4, encode(item)))
    return out


def fold_rate(folder: Folder, batch: list[Message]) -> float:
    started = time.perf_counter()
    for start in range(0, len(batch), BATCH):
        folder.fold(batch[start : start + BATCH])
    return len(batch) / (time.perf_counter() - started)


def reserve_ms(database: Database, n: int = 300) -> tuple[float, float]:
    limiter = LoginLimiter(ManualClock(START), database)
    times = []
    for i in range(n):
        started = time.perf_counter()
        limiter.reserve(f"user{i}", f"10.0.{i // 250}.{i % 250}")
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def run(name: str, url: str, count: int) -> str:
    database = Database(url)
    try:
        upgrade(database)
        settings = Settings(database_url=url)
        batch = messages(settings.topics.review, count)
        folder = Folder(settings, database)
        first = fold_rate(folder, batch)
        replay = fold_rate(folder, batch)
        p50, p99 = reserve_ms(database)
    finally:
        database.close()
    return (
        f"{name:<10} {count} review items: first reading {first:,.0f}/s, "
        f"replay {replay:,.0f}/s | limiter reserve p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    from tests.postgres import postgres_server

    with postgres_server() as server, server.fresh_database() as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--postgres", action="store_true", help="also a throwaway PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(run("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", args.records))
    if args.postgres:
        with postgres_url() as url:
            print(run("postgresql", url, args.records))


if __name__ == "__main__":
    main()
