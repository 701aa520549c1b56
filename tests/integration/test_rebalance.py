"""Reply-deadline alerts stay exactly-once while workers join and leave as they come due."""

from __future__ import annotations

from collections import Counter

import pytest
from aiokafka.partitioner import DefaultPartitioner

from records import decode
from records.sla import Alert, Case
from tests.contract.sla import at, post
from tests.integration.test_sla_contract import scans_pass
from tests.polling import until
from worker.clock import ManualClock

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 4
PER_PARTITION = 4
ALL = set(range(PARTITIONS))


def spread_threads(prefix: str) -> list[str]:
    """Thread ids whose conversation keys land ``PER_PARTITION`` on each partition."""
    partitioner = DefaultPartitioner()
    chosen: dict[int, list[str]] = {p: [] for p in ALL}
    i = 0
    while any(len(threads) < PER_PARTITION for threads in chosen.values()):
        thread = f"{prefix}{i}"
        partition = partitioner(f"facebook:{thread}".encode(), list(ALL), list(ALL))
        if len(chosen[partition]) < PER_PARTITION:
            chosen[partition].append(thread)
        i += 1
    return [t for threads in chosen.values() for t in threads]


class Owners:
    """Every set of verdict partitions each worker was seen to own."""

    def __init__(self) -> None:
        self.workers: dict[str, object] = {}
        self.seen: dict[str, list[set[int]]] = {}

    def add(self, name: str, worker) -> None:
        self.workers[name] = worker
        self.seen[name] = []

    def now(self, name: str) -> set[int]:
        owned = set(self.workers[name].ctx.views.sla_keeper.owned)
        if owned and (not self.seen[name] or self.seen[name][-1] != owned):
            self.seen[name].append(owned)
        return owned

    def settled(self, *names: str) -> bool:
        """Each named worker owns some partitions, none twice, all covered."""
        sets = [self.now(n) for n in names]
        union = set().union(*sets)
        return all(sets) and sum(len(s) for s in sets) == len(union) and union == ALL


async def test_alerts_exactly_once_while_workers_join_and_leave_as_they_fall_due(
    running_worker, produce, read_topic, read_topic_until, topic_size
):
    """Two batches of cases through four workers and five rebalances, each begun as alerts
    fall due: after dedupe by id, every case has exactly one at-risk and one breach alert."""
    clock = ManualClock(at("2026-11-23T10:00"))
    owners = Owners()
    start = lambda: running_worker(clock=clock, partitions=PARTITIONS)  # noqa: E731
    owners.add("a", await start())
    topics = owners.workers["a"].topics
    first = [
        post(f"q{i}", f"pothole number {i}", "2026-11-23T10:00", thread=t)
        for i, t in enumerate(spread_threads("one"))
    ]
    await produce(topics.comments, first, key=lambda c: c.conversation_key)
    opened = await read_topic(topics.cases, len(first), Case)
    batch_one = {c.id for c in opened}
    assert len(batch_one) == len(first)

    def alerts_for(case_ids: set[str], kind: str):
        def done(records) -> bool:
            ids = {decode(r.value, Alert).id for r in records}
            return ids >= {f"{c}:{kind}" for c in case_ids}

        return done

    # 1. The first batch falls at risk just as B joins.
    clock.set(at("2026-11-23T16:00"))
    owners.add("b", await start())
    await read_topic_until(topics.alerts, alerts_for(batch_one, "sla_at_risk"))
    await until(lambda: owners.settled("a", "b"), "A and B to share the partitions")

    # 2. A second batch arrives while A and B share the partitions.
    second = [
        post(f"p{i}", f"pothole, second batch {i}", "2026-11-23T16:00", thread=t)
        for i, t in enumerate(spread_threads("two"))
    ]
    await produce(topics.comments, second, key=lambda c: c.conversation_key)

    def batch_two_open(records) -> bool:
        keys = {c.conversation_key for c in second}
        return len({decode(r.value, Case).id for r in records} - batch_one) >= len(keys)

    cases = await read_topic_until(topics.cases, batch_two_open)
    batch_two = {decode(r.value, Case).id for r in cases} - batch_one

    # 3. The first batch breaches as C joins and A leaves.
    clock.set(at("2026-11-24T10:00"))
    owners.add("c", await start())
    await owners.workers["a"].app.stop()
    await read_topic_until(topics.alerts, alerts_for(batch_one, "sla_breach"))
    await until(lambda: owners.settled("b", "c"), "B and C to share the partitions")

    # 4. The second batch falls at risk as B leaves: C takes every partition.
    clock.set(at("2026-11-24T14:00"))
    await owners.workers["b"].app.stop()
    await read_topic_until(topics.alerts, alerts_for(batch_two, "sla_at_risk"))
    await until(lambda: owners.now("c") == ALL, "C to own every partition")

    # 5. The second batch breaches as D joins.
    clock.set(at("2026-11-24T16:00"))
    owners.add("d", await start())
    await read_topic_until(topics.alerts, alerts_for(batch_two, "sla_breach"))
    await until(lambda: owners.settled("c", "d"), "C and D to share the partitions")
    await scans_pass(owners.workers["c"], 4)
    await scans_pass(owners.workers["d"], 4)

    # Exactly one of each alert per case after dedupe by id; the copies on the wire, if
    # any (a write the state had not recorded yet when its partition moved), are counted.
    size = await topic_size(topics.alerts)
    records = await read_topic(topics.alerts, size)
    counts = Counter(decode(r.value, Alert).id for r in records)
    every_case = batch_one | batch_two
    expected = {f"{c}:{k}" for c in every_case for k in ("sla_at_risk", "sla_breach")}
    assert set(counts) == expected
    for record in records:
        alert = decode(record.value, Alert)
        assert record.key == alert.id.encode()
    duplicates = size - len(counts)
    print(f"alert records on the wire: {size}, distinct: {len(counts)}, copies: {duplicates}")
    print(f"partitions seen owned: {owners.seen}")
    assert all(any(0 < len(s) < PARTITIONS for s in owners.seen[n]) for n in "abd")
