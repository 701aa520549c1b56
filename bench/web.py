"""The officers' pages over the database, and the worker's memory: ``python -m bench.web``.

1. Pages. For each database (a temporary SQLite file; with ``--postgres`` also a
   throwaway PostgreSQL server, which needs Debian's postgresql package) it folds
   ``--items`` review items (default 100,000; about 3% open) from ``--authors`` authors
   (default 10,000, each with a ledger, some blocked), with their reply cases and
   moderation's records, through the projector's own fold, then serves the officers' app
   over the database's views (as `triage web` does) and times ``--requests`` GETs of the
   queue, the replies board, author pages and the reports page, signed in, over loopback
   HTTP: p50 and p99 in ms (target: queue p99 at most 300 ms).
2. Memory. On an embedded broker, `triage run --no-web` in a process of its own reads
   ``--rss-small`` and then, afresh, ``--rss-large`` review items from triage.review
   (default 10,000 and 100,000), with the same history as the pages (about 3% open, the
   rest closed by moderation's records or their reply cases); once its projector has
   folded them all its resident memory (VmRSS) is read: the target is the large within
   10% of the small. The worker holds its open items whole and a bounded number of
   closed ones, so this says whether history still costs memory. ``--no-rss`` leaves
   this part out, ``--no-pages`` the first.

Figures are printed side by side at the end. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr
from sqlalchemy import func, select

from records import ReviewItem, encode
from records.admin import ensure_topic
from records.moderation import AuditRecord, ItemModeration
from records.sla import Case
from worker.broker import EmbeddedBroker
from worker.clock import ManualClock
from worker.context import WorkerContext
from worker.db import Database, upgrade
from worker.db.models import QueueItemRow
from worker.db.projector import Folder
from worker.db.views import install
from worker.moderation.ledger import appeal_date
from worker.moderation.policy import ModerationConfig
from worker.retention import topic_specs
from worker.settings import Settings
from worker.sla.policy import SlaPolicy
from worker.users import open_store
from worker.web.app import create_web_app

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
BATCH = 1000
PASSWORD = "bench password 1234"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
LANES = ("moderation",) * 6 + ("response",) * 3 + ("urgent",)


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None


def review_item(i: int, authors: int, days: int = 90) -> ReviewItem:
    """Item ``i`` of the set: lane by i, posted over the last ``days``, about 3% open."""
    posted = NOW - timedelta(seconds=(i * 7919) % (days * 86_400))
    author = i % authors
    return ReviewItem.model_validate(
        {
            "schema": 1,
            "id": f"item-{i}",
            "lane": LANES[i % len(LANES)],
            "comment": {
                "schema": 1,
                "id": f"c{i}",
                "platform": "facebook",
                "channel": "North Herts Council",
                "kind": "comment",
                "thread_id": f"t{i}",
                "author": {
                    "id": f"a{author}",
                    "name": f"Resident {author}",
                    "handle": f"r{author}",
                },
                "text": f"The bins on street {i % 977} were missed again this week, when will "
                "someone come and collect them? This is the third time.",
                "created_at": posted,
                "received_at": posted,
                "url": f"https://facebook.example/posts/{i}",
            },
            "verdict": {
                "labels": ["service_request"] if i % 3 else ["abusive"],
                "scores": {"service_request": 0.9, "abusive": 0.2},
                "lane": LANES[i % len(LANES)],
                "model": {"name": "bench"},
            },
            "created_at": posted,
        }
    )


def is_open(i: int) -> bool:
    return i % 33 == 0


def case_of(item: ReviewItem, i: int) -> Case:
    received = item.comment.created_at
    closed = not is_open(i)
    return Case(
        id=f"case-{i}",
        conversation_key=f"facebook:t{i}",
        number=1,
        platform="facebook",
        channel="North Herts Council",
        status="closed" if closed else "open",
        opened_by=item.comment.comment_key,
        author_key=item.comment.author_key,
        item_id=item.id,
        received_at=received,
        due_at=received + timedelta(hours=8 + i % 40),
        target_hours=8.0,
        closed_at=received + timedelta(hours=3) if closed else None,
        closed_by="replied" if closed else None,
        response_hours=3.0 + i % 7 if closed else None,
    )


def moderation_of(item: ReviewItem, i: int) -> ItemModeration:
    if is_open(i):
        return ItemModeration(item_id=item.id, recommendation="Hide the post", updated_at=NOW)
    return ItemModeration(
        item_id=item.id,
        status="closed",
        outcome="dismiss",
        decided_by="olivia",
        decided_at=item.created_at + timedelta(hours=1),
        updated_at=NOW,
    )


def audit_of(author: int) -> AuditRecord:
    at = NOW - timedelta(days=1 + author % 300)
    action = "block" if author % 20 == 0 else "warn"
    return AuditRecord(
        id=f"d-{author}",
        decision_id=f"d-{author}",
        item_id=f"item-old-{author}",
        author_key=f"facebook:a{author}",
        platform="facebook",
        author_id=f"a{author}",
        account_name=f"Resident {author}",
        account_handle=f"r{author}",
        channel="North Herts Council",
        comment_key=f"facebook:old{author}",
        posted_at=at,
        text="An earlier post",
        categories=("abusive",),
        action=action,
        decided_by="maya",
        decided_at=at,
        appealable_from=appeal_date(at.date()) if action == "block" else None,
    )


def fill(database: Database, items: int, authors: int) -> tuple[int, float]:
    """Folds the set in the projector's batches; (records folded, seconds)."""
    settings = Settings()
    names = settings.topics
    folder = Folder(settings, database)
    offsets: dict[str, int] = {}
    pending: list[Message] = []
    folded = 0
    started = time.perf_counter()

    def add(topic: str, record: Any) -> None:
        nonlocal folded
        offset = offsets.get(topic, 0)
        offsets[topic] = offset + 1
        pending.append(Message(topic, 0, offset, encode(record)))
        if len(pending) >= BATCH:
            folder.fold(pending)
            folded += len(pending)
            pending.clear()

    for author in range(authors):
        add(names.audit, audit_of(author))
    for i in range(items):
        item = review_item(i, authors)
        add(names.review, item)
        if item.lane == "response":
            add(names.cases, case_of(item, i))
        else:
            add(names.moderation, moderation_of(item, i))
    if pending:
        folder.fold(pending)
        folded += len(pending)
    return folded, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def time_pages(
    url: str, data_dir: Path, requests: int, authors: int
) -> dict[str, tuple[float, float]]:
    """p50 and p99 in ms per page, signed in as a manager."""
    settings = Settings(
        data_dir=data_dir,
        database_url=SecretStr(url),
        session_secret=SecretStr("bench-secret-" + "z" * 32),
    )
    clock = ManualClock(NOW)
    ctx = WorkerContext(settings=settings, clock=clock)
    store = ctx.views.users = open_store(settings)
    store.add("maya", "manager", PASSWORD)
    install(ctx.views, store.database, config=ModerationConfig(), policy=SlaPolicy(), clock=clock)
    pages = {
        "queue": lambda n: "/",
        "replies": lambda n: "/replies",
        "author": lambda n: f"/authors/facebook:a{(n * 37) % authors}",
        "report": lambda n: "/reports",
    }
    out: dict[str, tuple[float, float]] = {}
    async with TestClient(TestServer(create_web_app(ctx))) as client:
        login = await (await client.get("/login")).text()
        token = TOKEN.search(login)
        assert token is not None
        signed = await client.post(
            "/login",
            data={
                "username": "maya",
                "password": PASSWORD,
                "csrf_token": token.group(1),
                "next": "/",
            },
            allow_redirects=False,
        )
        assert signed.status == 303, signed.status
        for name, path in pages.items():
            await (await client.get(path(0))).read()  # warm: templates compiled, caches filled
            times = []
            for n in range(requests):
                started = time.perf_counter()
                response = await client.get(path(n))
                await response.read()
                times.append((time.perf_counter() - started) * 1000)
                assert response.status == 200, (name, response.status)
            out[name] = (statistics.median(times), percentile(times, 0.99))
    store.database.close()
    return out


def pages_line(name: str, url: str, items: int, authors: int, requests: int) -> list[str]:
    database = Database(url)
    try:
        upgrade(database)
        folded, seconds = fill(database, items, authors)
        with database.read() as session:
            open_items = session.scalar(
                select(func.count()).select_from(QueueItemRow).where(QueueItemRow.status == "open")
            )
    finally:
        database.close()
    with tempfile.TemporaryDirectory() as data_dir:
        timings = asyncio.run(time_pages(url, Path(data_dir), requests, authors))
    lines = [
        f"{name:<10} {items:,} review items ({open_items:,} open), {authors:,} authors: "
        f"{folded:,} records folded in {seconds:.0f} s ({folded / seconds:,.0f}/s)"
    ]
    for page, (p50, p99) in timings.items():
        lines.append(f"{name:<10}   {page:<8} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    return lines


# -- the worker's memory --------------------------------------------------------------


def vm(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def produce_items(settings: Settings, count: int) -> None:
    """``count`` review items on triage.review with the pages' history (about 3% open):
    each response item's reply case on triage.cases, each other item's moderation record
    on triage.moderation; the topics made with the policy's retention."""
    names = settings.topics
    specs = topic_specs(settings)
    for topic in (names.review, names.cases, names.moderation):
        await ensure_topic(settings.kafka, specs[topic], settings.partitions, 1)
    producer = AIOKafkaProducer(**settings.kafka.options(), acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for i in range(count):
            item = review_item(i, 10_000)
            key = item.id.encode()
            futures.append(await producer.send(names.review, encode(item), key=key))
            if item.lane == "response":
                case = case_of(item, i)
                sent = await producer.send(names.cases, encode(case), key=case.id.encode())
            else:
                sent = await producer.send(
                    names.moderation, encode(moderation_of(item, i)), key=key
                )
            futures.append(sent)
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def worker_rss(broker_url: str, count: int, within_s: float) -> tuple[float, float, float]:
    """(VmRSS MB, VmHWM MB, seconds) of `triage run --no-web` once its projector has
    folded ``count`` review items it found on triage.review."""
    prefix = f"benchweb{uuid.uuid4().hex[:6]}."
    partitions = 4
    settings = Settings(broker=broker_url, topic_prefix=prefix, partitions=partitions)
    asyncio.run(produce_items(settings, count))
    with tempfile.TemporaryDirectory() as data_dir:
        db_url = f"sqlite:///{Path(data_dir) / 'triage.db'}"
        env = {
            **os.environ,
            "TRIAGE_BROKER": broker_url,
            "TRIAGE_TOPIC_PREFIX": prefix,
            "TRIAGE_APP_ID": f"benchweb-{uuid.uuid4().hex[:6]}",
            "TRIAGE_PARTITIONS": str(partitions),
            "TRIAGE_LOG_LEVEL": "warning",
            "TRIAGE_DATA_DIR": data_dir,
            "TRIAGE_DATABASE_URL": db_url,
        }
        log_path = Path(data_dir) / "worker.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from worker.cli import main; main()",
                    "run",
                    "--no-web",
                    "--no-notify",
                ],
                env=env,
                stdout=log,
                stderr=log,
            )
        started = time.monotonic()
        try:
            database = Database(db_url)
            while True:
                if process.poll() is not None:
                    raise RuntimeError(log_path.read_text()[-2000:])
                if time.monotonic() - started > within_s:
                    raise TimeoutError(f"{count} items not folded in {within_s:.0f}s")
                with contextlib.suppress(Exception), database.read() as session:
                    if (
                        session.scalar(select(func.count()).select_from(QueueItemRow)) or 0
                    ) >= count:
                        break
                time.sleep(1.0)
            database.close()
            seconds = time.monotonic() - started
            # Let moderation's own records settle too, then read the memory.
            time.sleep(5.0)
            return vm(process.pid, "VmRSS"), vm(process.pid, "VmHWM"), seconds
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def rss_lines(small: int, large: int, within_s: float) -> list[str]:
    broker = EmbeddedBroker()
    broker.start()
    try:
        measured = [(n, *worker_rss(broker.url, n, within_s)) for n in (small, large)]
    finally:
        broker.stop()
    (_, rss1, _, _), (_, rss2, _, _) = measured
    growth = 100 * (rss2 - rss1) / rss1
    return [
        *(
            f"worker     after {n:>7,} review items: RSS {rss:7.0f} MB (peak {hwm:.0f} MB), "
            f"all folded in {s:.0f} s"
            for n, rss, hwm, s in measured
        ),
        f"worker     growth {growth:+.1f}% (target within 10%)",
    ]


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    from tests.postgres import postgres_server

    with postgres_server() as server, server.fresh_database() as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--authors", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100, help="GETs per page")
    parser.add_argument("--postgres", action="store_true", help="also a throwaway PostgreSQL")
    parser.add_argument("--no-rss", action="store_true", help="leave the worker's memory out")
    parser.add_argument("--no-pages", action="store_true", help="leave the page times out")
    parser.add_argument("--rss-small", type=int, default=10_000)
    parser.add_argument("--rss-large", type=int, default=100_000)
    parser.add_argument("--rss-within", type=float, default=1800.0, help="seconds to wait")
    args = parser.parse_args()
    lines: list[str] = []
    if not args.no_pages:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            lines += pages_line("sqlite", url, args.items, args.authors, args.requests)
    if args.postgres and not args.no_pages:
        with postgres_url() as url:
            lines += pages_line("postgresql", url, args.items, args.authors, args.requests)
    if not args.no_rss:
        lines += rss_lines(args.rss_small, args.rss_large, args.rss_within)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
