"""Reply-deadline alerts stay exactly-once while partitions move between two live workers."""

from __future__ import annotations

from collections import Counter

import pytest
from aiokafka.partitioner import DefaultPartitioner

from records import decode
from records.sla import Alert, Case
from tests.integration.test_sla import at, post, scans_pass
from tests.polling import until
from worker.clock import ManualClock

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 4
PER_PARTITION = 6
ALL = set(range(PARTITIONS))


def spread_threads() -> list[str]:
    """Thread ids whose conversation keys land ``PER_PARTITION`` on each partition."""
    partitioner = DefaultPartitioner()
    chosen: dict[int, list[str]] = {p: [] for p in ALL}
    i = 0
    while any(len(threads) < PER_PARTITION for threads in chosen.values()):
        thread = f"rb{i}"
        partition = partitioner(f"facebook:{thread}".encode(), list(ALL), list(ALL))
        if len(chosen[partition]) < PER_PARTITION:
            chosen[partition].append(thread)
        i += 1
    return [t for threads in chosen.values() for t in threads]


class Owners:
    """Every set of verdict partitions each worker was seen to own."""

    def __init__(self, **workers) -> None:
        self.workers = workers
        self.seen: dict[str, list[set[int]]] = {name: [] for name in workers}

    def now(self, name: str) -> set[int]:
        keeper = self.workers[name].ctx.views.sla_keeper
        owned = keeper._active_partitions() or set()
        if owned and (not self.seen[name] or self.seen[name][-1] != owned):
            self.seen[name].append(owned)
        return owned

    def split(self) -> bool:
        """Both own partitions, none twice, all covered (the rebalance has settled)."""
        a, b = self.now("a"), self.now("b")
        return bool(a) and bool(b) and not (a & b) and (a | b) == ALL


async def test_alerts_exactly_once_across_a_rebalance_between_two_workers(
    running_worker, produce, read_topic, read_topic_until, topic_size
):
    """Each case gets one at-risk and one breach record while partitions move A -> A+B -> B."""
    clock = ManualClock(at("2026-11-23T10:00"))
    first = await running_worker(clock=clock, partitions=PARTITIONS)
    topics = first.topics
    threads = spread_threads()
    queries = [
        post(f"q{i}", f"pothole number {i} on Station Road", "2026-11-23T10:00", thread=t)
        for i, t in enumerate(threads)
    ]
    await produce(topics.comments, queries, key=lambda c: c.conversation_key)
    opened = await read_topic(topics.cases, len(queries), Case)
    case_ids = {c.id for c in opened}
    assert len(case_ids) == len(queries)
    assert all(c.due_at == at("2026-11-24T10:00") for c in opened)

    def alerts_of(kind: str):
        def done(records) -> bool:
            return {decode(r.value, Alert).id for r in records} >= {f"{c}:{kind}" for c in case_ids}

        return done

    # 1. A alone: every case at risk.
    clock.set(at("2026-11-23T16:00"))
    await read_topic_until(topics.alerts, alerts_of("sla_at_risk"))
    assert first.ctx.views.sla_keeper._active_partitions() == ALL

    # 2. B joins the group: the partitions are split between the two live workers.
    second = await running_worker(clock=clock, partitions=PARTITIONS)
    owners = Owners(a=first, b=second)
    await until(owners.split, "the partitions to be split between A and B")
    await until(second.ctx.views.sla_keeper.store.ready.is_set, "B to read the state")

    # 3. Every case breaches while both workers own some of them.
    clock.set(at("2026-11-24T10:00"))
    await read_topic_until(topics.alerts, alerts_of("sla_breach"))
    await scans_pass(first, 3)
    await scans_pass(second, 3)
    assert owners.split(), "a worker lost its partitions before the breaches were checked"

    # 4. A leaves: B takes every partition and scans them all.
    await first.app.stop()
    await until(lambda: owners.now("b") == ALL, "B to own every partition")
    await scans_pass(second, 4)

    # 5. Exactly one record of each alert per case, on the alerts topic.
    records = await read_topic(topics.alerts, 2 * len(queries))
    assert await topic_size(topics.alerts) == 2 * len(queries)
    counts = Counter(decode(r.value, Alert).id for r in records)
    expected = {f"{c}:{k}" for c in case_ids for k in ("sla_at_risk", "sla_breach")}
    assert set(counts) == expected
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    for record in records:
        alert = decode(record.value, Alert)
        assert record.key == alert.id.encode()
        assert alert.kind == alert.id.rsplit(":", 1)[1]
    assert any(0 < len(owned) < PARTITIONS for owned in owners.seen["a"])
    print(f"partitions seen owned: {owners.seen}")
    assert any(0 < len(owned) < PARTITIONS for owned in owners.seen["b"])
