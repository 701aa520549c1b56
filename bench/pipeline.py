"""End-to-end throughput and latency: ``python -m bench.pipeline`` from the repository root.

In one run, on one embedded broker:

1. the shipped classifier alone on the comments, in the worker's batches: the ceiling;
2. the worker (``triage run`` in a process of its own, so that this process's producer
   and readers take none of its CPU) with every comment produced in one burst: throughput from
   social.comments to triage.verdicts (every comment) and to triage.review (the flagged
   ones), each as a share of the classifier's own throughput (target: at least 0.85);
3. the worker with comments produced at a steady ``--rate`` per second (default 100):
   produce-to-verdict latency (target: p99 at most 500 ms);
4. with ``--raw``, a raw aiokafka pass-through (consume, produce, commit): the floor set
   by the broker and the client library.

Throughput is comments over the time from the first produce to the last output; latency
is produce -> output record seen by a reader. Texts come from the bundled sample feed.
Nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from records import Comment, decode, encode
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

    @property
    def p99_ms(self) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000

    def line(self) -> str:
        p50 = statistics.median(self.latencies) * 1000
        return (
            f"{self.name:<38} {self.rate:9.0f} comments/s   p50 {p50:7.1f} ms   "
            f"p99 {self.p99_ms:7.1f} ms   ({len(self.latencies)} outputs)"
        )


def make_comments(n: int, first: int = 0) -> list[Comment]:
    """``n`` residents' comments from the sample feed, ids from ``first`` on."""
    base = [c for c in load_feed(FEED, now=datetime.now(UTC)) if not c.author.is_council]
    out = []
    for i in range(first, first + n):
        c = base[i % len(base)]
        # Each pass over the feed keeps its conversations (most hold one comment).
        thread = f"{c.thread_id}-{i // len(base)}"
        out.append(c.model_copy(update={"id": f"b{i}", "thread_id": thread}))
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
    bootstrap: str,
    topic: str,
    partitions: int,
    want: int,
    id_of: Any,
    within: float,
    only: set[str] | None = None,
    quiet_s: float | None = None,
) -> dict[str, float]:
    """Arrival time per id of the first ``want`` distinct ids on ``topic`` (of ``only``);
    with ``quiet_s``, also stops once that long passes with no new id after the first."""
    # A short fetch wait: the embedded broker answers a held fetch only at its deadline,
    # which would add up to the wait to every latency measured here.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=20
    )
    await consumer.start()
    seen: dict[str, float] = {}
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + within
        last_new = time.monotonic()
        while len(seen) < want and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    key = id_of(record.value)
                    if (only is None or key in only) and key not in seen:
                        seen[key] = last_new = now
            if quiet_s is not None and seen and now - last_new > quiet_s:
                break
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
        fetch_max_wait_ms=50,
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


def classifier_alone(classifier: Any, comments: list[Comment], batch: int) -> float:
    """Comments per second through ``classify`` in the worker's batch size."""
    classifier.classify(comments[:batch])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(comments), batch):
        classifier.classify(comments[i : i + batch])
    return len(comments) / (time.perf_counter() - start)


@asynccontextmanager
async def worker_process(
    url: str, partitions: int, batch: int, data_dir: Path
) -> AsyncIterator[tuple[subprocess.Popen[bytes], Any]]:
    """``triage run`` in a process of its own, so that this one's producer and readers
    take none of its CPU; yields the process and its settings once it gives verdicts."""
    from worker.settings import Settings

    prefix = f"bench{uuid.uuid4().hex[:6]}."
    env = {
        **os.environ,
        "TRIAGE_BROKER": url,
        "TRIAGE_TOPIC_PREFIX": prefix,
        "TRIAGE_APP_ID": f"bench-{uuid.uuid4().hex[:6]}",
        "TRIAGE_PARTITIONS": str(partitions),
        "TRIAGE_BATCH_SIZE": str(batch),
        "TRIAGE_LOG_LEVEL": "warning",
        "TRIAGE_LOG_FORMAT": "json",
        "TRIAGE_WEB_PORT": "0",
        "TRIAGE_DATA_DIR": str(data_dir),
    }
    settings = Settings(broker=url, topic_prefix=prefix, partitions=partitions)
    log = (data_dir / "worker.log").open("wb")
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for below
        [sys.executable, "-c", "from worker.cli import main; main()", "run"],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        yield process, settings
    except BaseException:
        log.flush()
        print((data_dir / "worker.log").read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time so far of a process's main thread and of all its other threads."""
    tick = os.sysconf("SC_CLK_TCK")
    main = rest = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        used = (int(fields[11]) + int(fields[12])) / tick
        if int(tid) == pid:
            main += used
        else:
            rest += used
    return main, rest


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def through_worker(
    bootstrap: str,
    settings: Any,
    comments: list[Comment],
    flagged: int,
    rate: float | None,
) -> tuple[Result, Result]:
    """Produce ``comments`` to a running worker; time their verdicts and review items."""
    topics = settings.topics
    partitions = settings.partitions
    ids = {c.id for c in comments}
    verdicts = asyncio.ensure_future(
        collect(bootstrap, topics.verdicts, partitions, len(comments), _comment_id, 300, ids)
    )
    # The worker's batches differ from the classifier's here, and int8 scores move a little
    # with a batch's neighbours, so a borderline comment may not be flagged there: the
    # review reader stops after 5 s with nothing new rather than wait for the last one.
    reviews = asyncio.ensure_future(
        collect(bootstrap, topics.review, partitions, flagged, _comment_id, 300, ids, 5.0)
    )
    sent = await produce_all(bootstrap, topics.comments, comments, rate)
    seen_verdicts, seen_reviews = await verdicts, await reviews
    return (
        _result("worker: comment -> verdict", sent, seen_verdicts, len(comments)),
        _result("worker: comment -> review item", sent, seen_reviews, len(comments)),
    )


async def warm_up(bootstrap: str, settings: Any, comment: Comment) -> None:
    """Wait until the worker answers one comment (it loads its classifier first)."""
    await produce_all(bootstrap, settings.topics.comments, [comment])
    got = await collect(
        bootstrap, settings.topics.verdicts, settings.partitions, 1, _comment_id, 120
    )
    if not got:
        raise SystemExit("the worker gave no verdict within 120 s")


def _comment_id(value: bytes) -> str:
    # Plain JSON, not the records' validation: the readers must cost the worker little CPU.
    comment_id: str = json.loads(value)["comment"]["id"]
    return comment_id


def _result(
    name: str, sent: dict[str, float], seen: dict[str, float], comments: int | None = None
) -> Result:
    """Throughput counts ``comments`` (default: the outputs seen) over first send to last output."""
    ids = [i for i in sent if i in seen]
    if not ids:
        raise RuntimeError(f"{name}: nothing arrived")
    first = min(sent.values())
    last = max(seen[i] for i in ids)
    count = len(ids) if comments is None else comments
    return Result(name, count, last - first, [seen[i] - sent[i] for i in ids])


async def main(n: int, partitions: int, batch: int, rate: float, steady: int, raw: bool) -> None:
    import classifiers
    from worker.logs import configure_logging
    from worker.settings import Settings

    configure_logging("console", "warning")
    burst, paced = make_comments(n), make_comments(steady, first=n)
    classifier = classifiers.load(Settings(batch_size=batch))
    alone = classifier_alone(classifier, burst, batch)
    flagged = [sum(1 for v in classifier.classify(c) if v.lanes) for c in (burst, paced)]
    version = classifier.versions["trained"]
    del classifier
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as scratch:
        async with worker_process(broker.url, partitions, batch, Path(scratch)) as (
            process,
            settings,
        ):
            await warm_up(broker.bootstrap, settings, make_comments(1, first=n + steady)[0])
            before = cpu_seconds(process.pid)
            to_verdict, to_review = await through_worker(
                broker.bootstrap, settings, burst, flagged[0], None
            )
            after = cpu_seconds(process.pid)
            steady_results = await through_worker(
                broker.bootstrap, settings, paced, flagged[1], rate
            )
            rss = peak_rss_mb(process.pid)
        floor = await passthrough(broker.bootstrap, burst, partitions, None) if raw else None
    print(
        f"\nclassifier {version}, {partitions} partitions, batch {batch}, worker in its own process"
    )
    print(f"{'classifier alone (' + str(n) + ' comments)':<38} {alone:9.0f} comments/s")
    print(f"-- {n} comments in one burst")
    for result in (to_verdict, to_review):
        print(f"{result.line()}   {result.rate / alone:.2f} of the classifier's")
    print(f"-- {steady} comments at {rate:.0f}/s")
    for result in steady_results:
        print(result.line())
    if floor is not None:
        print(floor.line())
    main_ms, rest_ms = ((a - b) * 1000 / n for a, b in zip(after, before, strict=True))
    print(
        f"worker CPU per comment in the burst: {main_ms:.1f} ms on its event-loop thread, "
        f"{rest_ms:.1f} ms on its other threads (classifier, consumer)"
    )
    print(f"worker peak resident memory: {rss:.0f} MB")
    print(
        f"summary: to verdict {to_verdict.rate / alone:.2f} and to review item "
        f"{to_review.rate / alone:.2f} of the classifier's throughput (target 0.85 each); "
        f"p99 produce-to-verdict at {rate:.0f}/s {steady_results[0].p99_ms:.0f} ms (target 500)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="comments in the burst (default 2000)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32, help="TRIAGE_BATCH_SIZE")
    parser.add_argument("--rate", type=float, default=100.0, help="steady comments per second")
    parser.add_argument("--steady", type=int, default=1500, help="comments at the steady rate")
    parser.add_argument("--raw", action="store_true", help="add the raw aiokafka pass-through")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.partitions, args.batch, args.rate, args.steady, args.raw))
