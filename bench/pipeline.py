"""End-to-end throughput and latency: ``python -m bench.pipeline`` from the repository root.

On one embedded broker, in one run:

1. a raw aiokafka pass-through (consume, produce the same bytes, commit): the floor set
   by the broker and the client library;
2. the worker (``create_app`` with the shipped classifier) from social.comments to
   triage.verdicts (every comment) and triage.review (flagged ones).

Both get the same comments, produced in one burst (throughput; latency then includes the
queue) or at ``--rate`` per second (latency of a steady stream). Latency is produce -> output record
seen by a reader; throughput is comments over the time from the first produce to the
last output. Texts come from the bundled sample feed. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from records import Comment, ReviewItem, TriageResult, decode, encode
from worker.broker import EmbeddedBroker
from worker.replay import load_feed

FEED = Path(__file__).resolve().parent.parent / "worker" / "demo" / "sample_feed.jsonl"


@dataclass
class Result:
    name: str
    comments: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.comments / self.seconds

    def line(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return (
            f"{self.name:<34} {self.rate:9.0f} comments/s   p50 {p50:7.1f} ms   "
            f"p99 {p99:7.1f} ms   ({len(lat)} latencies)"
        )


def make_comments(n: int) -> list[Comment]:
    base = [c for c in load_feed(FEED, now=datetime.now(UTC)) if not c.author.is_council]
    out = []
    for i in range(n):
        c = base[i % len(base)]
        out.append(c.model_copy(update={"id": f"b{i}", "thread_id": f"bench{i % 97}"}))
    return out


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def produce_all(
    bootstrap: str, topic: str, comments: list[Comment], rate: float | None = None
) -> dict[str, float]:
    """Send every comment (keyed by conversation), ``rate`` per second or in one burst;
    the send time per comment id."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    sent: dict[str, float] = {}
    try:
        futures = []
        start = time.monotonic()
        for i, c in enumerate(comments):
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent[c.id] = time.monotonic()
            futures.append(await producer.send(topic, encode(c), key=c.conversation_key.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


async def collect(
    bootstrap: str, topic: str, partitions: int, want: int, id_of: Any, within: float
) -> dict[str, float]:
    """Arrival time per id of the first ``want`` distinct ids on ``topic``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    seen: dict[str, float] = {}
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + within
        while len(seen) < want and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    seen.setdefault(id_of(record.value), now)
    finally:
        await consumer.stop()
    return seen


async def passthrough(
    bootstrap: str, comments: list[Comment], partitions: int, rate: float | None
) -> Result:
    src, dst = f"pt-{uuid.uuid4().hex[:6]}-in", f"pt-{uuid.uuid4().hex[:6]}-out"
    await create_topics(bootstrap, [src, dst], partitions)
    consumer = AIOKafkaConsumer(
        src,
        bootstrap_servers=bootstrap,
        group_id=f"pt-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await consumer.start()
    await producer.start()

    async def forward() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            futures = [
                await producer.send(dst, r.value, key=r.key)
                for records in batch.values()
                for r in records
            ]
            await asyncio.gather(*futures)
            if futures:
                await consumer.commit()

    while not consumer.assignment():  # noqa: ASYNC110 - aiokafka offers no event for this
        await asyncio.sleep(0.1)
    pump = asyncio.ensure_future(forward())
    try:
        reader = asyncio.ensure_future(
            collect(bootstrap, dst, partitions, len(comments), lambda v: decode(v, Comment).id, 300)
        )
        sent = await produce_all(bootstrap, src, comments, rate)
        seen = await reader
    finally:
        pump.cancel()
        await consumer.stop()
        await producer.stop()
    return _result("raw aiokafka pass-through", sent, seen)


async def pipeline(
    bootstrap: str,
    url: str,
    comments: list[Comment],
    partitions: int,
    batch: int,
    rate: float | None,
) -> tuple[Result, Result]:
    from worker.app import create_app
    from worker.context import WorkerContext
    from worker.settings import Settings

    prefix = f"bench{uuid.uuid4().hex[:6]}."
    settings = Settings(
        broker=url,
        topic_prefix=prefix,
        app_id=f"bench-{uuid.uuid4().hex[:6]}",
        partitions=partitions,
        batch_size=batch,
        session_timeout_s=10,
        log_level="warning",
    )
    ctx = WorkerContext(settings=settings)
    app = create_app(settings, ctx=ctx)
    await app.start()
    try:
        while not ctx.ready:  # noqa: ASYNC110 - ctx.ready is a plain flag
            await asyncio.sleep(0.1)
        topics = settings.topics
        # Warm-up: the first batch pays for imports and thread start-up.
        await produce_all(bootstrap, topics.comments, comments[:1])
        await collect(
            bootstrap,
            topics.verdicts,
            partitions,
            1,
            lambda v: decode(v, TriageResult).comment.id,
            120,
        )
        rest = comments[1:]
        flagged = sum(1 for v in ctx.views["triage"].classifier.classify(rest) if v.lanes)
        verdicts = asyncio.ensure_future(
            collect(
                bootstrap,
                topics.verdicts,
                partitions,
                len(rest) + 1,
                lambda v: decode(v, TriageResult).comment.id,
                300,
            )
        )
        reviews = asyncio.ensure_future(
            collect(
                bootstrap,
                topics.review,
                partitions,
                flagged,
                lambda v: decode(v, ReviewItem).comment.id,
                300,
            )
        )
        sent = await produce_all(bootstrap, topics.comments, rest, rate)
        seen_verdicts, seen_reviews = await verdicts, await reviews
        reg = ctx.views["metrics"].registry
        print(
            f"classifier: {reg.get_sample_value('triage_classify_seconds_sum'):.1f} s in "
            f"{reg.get_sample_value('triage_classify_seconds_count'):.0f} batches"
        )
    finally:
        await app.stop()
    return (
        _result("worker: comment -> verdict", sent, seen_verdicts),
        _result("worker: comment -> review item", sent, seen_reviews),
    )


def _result(name: str, sent: dict[str, float], seen: dict[str, float]) -> Result:
    ids = [i for i in sent if i in seen]
    if not ids:
        raise SystemExit(f"{name}: nothing arrived")
    first = min(sent.values())
    last = max(seen[i] for i in ids)
    return Result(name, len(ids), last - first, [seen[i] - sent[i] for i in ids])


async def main(n: int, partitions: int, batch: int, rate: float | None) -> None:
    from worker.logs import configure_logging

    configure_logging("console", "warning")
    comments = make_comments(n)
    with EmbeddedBroker() as broker:
        raw = await passthrough(broker.bootstrap, comments, partitions, rate)
        to_verdict, to_review = await pipeline(
            broker.bootstrap, broker.url, comments, partitions, batch, rate
        )
    pace = f"{rate:.0f}/s" if rate else "one burst"
    print(f"\n{n} comments ({pace}), {partitions} partitions, batch size {batch}, embedded broker")
    for result in (raw, to_verdict, to_review):
        print(result.line())
    print(f"worker throughput / pass-through: {to_verdict.rate / raw.rate:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="comments (default 2000)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32, help="TRIAGE_BATCH_SIZE")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="comments per second (default: one burst, for throughput)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.n, args.partitions, args.batch, args.rate))
