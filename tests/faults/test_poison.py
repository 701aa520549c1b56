"""A poison pill on each topic the worker reads: dead-lettered with provenance, and the
records after it still handled, by one worker that never stops or turns unready."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from records import ReviewItem, TriageResult, decode
from records.moderation import AuditRecord, Decision, ItemModeration
from records.sla import Case, EmergencyChange
from records.sla_state import Conversation, SlaMessage, SlaState
from tests.faults.conftest import (
    Figures,
    bootstrap_of,
    dead_letters_from,
    read_all,
    ready_status,
    report,
    send,
)
from tests.integration.conftest import KeywordClassifier, make_comment
from tests.polling import until
from worker.sla.cases import response_item_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

MARK = "Zq7secret"
# The five ordinary kinds of malformed record, and the hostile ones.
ORDINARY = [
    None,
    b"\xff\xfe{",
    b"not json",
    b'{"schema": 9, "id": "x"}',
    b'{"schema": 1}',
]
HOSTILE = [
    b"[" * 20_000,
    b'{"schema": 1, "id": ' + b"9" * 5_000 + b"}",
    b'{"schema": 1, "id": "a", "scores": {"spam": NaN}, "at": Infinity}',
    b'{"schema": 1, "id": "\\ud800", "text": "\\udfff"}',
    b'{"schema": 1, "id": 5, "text": ["'
    + MARK.encode()
    + b'"], "author": "'
    + MARK.encode()
    + b'"}',
]
PILLS = ORDINARY + HOSTILE
NOW = datetime.now(UTC)
VERDICT = KeywordClassifier._one


async def poison(
    worker: Any,
    topic: str,
    key: bytes,
    valid: list[Any],
    handled: Any,
    *,
    pills: list[bytes | None] = PILLS,
    before: int = 0,
) -> Figures:
    """Send ``pills`` then ``valid`` on one partition of ``topic``; wait for ``handled()``.

    Checks every pill was dead-lettered once with its topic, partition and offset and a
    reason that quotes nothing, and that the worker is still running and ready.
    """
    started = time.monotonic()
    written = await send(bootstrap_of(worker), topic, [*pills, *valid], key)
    await until(handled, f"the records after the pills on {topic}")
    recover_s = time.monotonic() - started
    letters = await dead_letters_from(worker, topic, len(pills))
    assert sorted((dl.partition, dl.offset) for dl in letters) == written[: len(pills)]
    assert all(dl.original_key == key for dl in letters)
    assert [dl.original_value for dl in sorted(letters, key=lambda d: d.offset)] == pills
    assert not any(MARK in dl.error for dl in letters)
    assert worker.ctx.fatal.error is None
    assert await ready_status(worker) == 200
    return Figures(
        fault=f"poison on {topic.split('.', 1)[1]}",
        comments_in=before + len(pills) + len(valid),
        accounted_for=before + len(letters) + len(valid),
        duplicates_after_dedupe=len(letters) - len({(dl.partition, dl.offset) for dl in letters}),
        recover_s=recover_s,
        note=f"{len(pills)} pills dead-lettered, {len(valid)} valid records handled",
    )


async def test_poison_on_social_comments(shared_worker):
    """Comments before and after ten pills all get verdicts; each pill is dead-lettered."""
    worker = shared_worker
    key = b"facebook:poison-comments"
    before = [make_comment(i, "pothole", thread="poison-comments") for i in range(5)]
    after = [make_comment(i, "pothole", thread="poison-comments") for i in range(5, 10)]
    await send(bootstrap_of(worker), worker.topics.comments, before, key)
    wanted = {c.id for c in before + after}
    verdicts: list[Any] = []

    async def all_verdicts() -> bool:
        verdicts[:] = await read_all(
            bootstrap_of(worker),
            worker.topics.verdicts,
            lambda got: wanted <= {decode(r.value, TriageResult).comment.id for r in got},
        )
        return True

    figures = await poison(worker, worker.topics.comments, key, after, all_verdicts, before=5)
    ids = [decode(r.value, TriageResult).comment.id for r in verdicts]
    mine = [i for i in ids if i in wanted]
    assert set(mine) == wanted
    report(
        Figures(
            figures.fault,
            figures.comments_in,
            len(set(mine)) + len(PILLS),
            len(set(mine)) - len(wanted),
            figures.recover_s,
            f"{len(mine) - len(set(mine))} verdicts written twice before dedupe",
        )
    )


async def test_poison_on_triage_verdicts(shared_worker):
    """Reply tracking dead-letters the pills and still opens the case of the query after."""
    worker = shared_worker
    comment = make_comment(201, "pothole", thread="poison-verdicts")
    result = TriageResult(comment=comment, verdict=VERDICT("pothole"), classified_at=NOW)
    sla = worker.ctx.views.sla

    def case_open() -> bool:
        return any(c.conversation_key == comment.conversation_key for c in sla.cases())

    report(
        await poison(
            worker, worker.topics.verdicts, comment.conversation_key.encode(), [result], case_open
        )
    )


def moderation_item(n: int) -> ReviewItem:
    comment = make_comment(n, "you idiot", thread=f"poison-{n}")
    return ReviewItem(
        id=f"rv-poison-{n}",
        lane="moderation",
        comment=comment,
        verdict=VERDICT("you idiot"),
        created_at=NOW,
    )


async def test_poison_on_triage_review(shared_worker):
    """The review view's reader and the moderation agent both carry on past the pills."""
    worker = shared_worker
    item = moderation_item(301)
    view = worker.ctx.views.review

    def advised(records: list[Any]) -> bool:
        return any(r.key == item.id.encode() for r in records)

    async def seen_and_enriched() -> bool:
        if view.get(item.id) is None:
            return False
        # The agent's advice on the item after the pills, on its own topic.
        await read_all(bootstrap_of(worker), worker.topics.moderation, advised)
        return True

    report(await poison(worker, worker.topics.review, item.id.encode(), [item], seen_and_enriched))
    assert worker.ctx.views.moderation_reader.skipped >= len(PILLS)


async def test_poison_on_triage_decisions(shared_worker):
    """The decision after the pills is applied: its audit record reaches the audit view."""
    worker = shared_worker
    item = moderation_item(401)
    await send(bootstrap_of(worker), worker.topics.review, [item], item.id.encode())
    await until(lambda: worker.ctx.views.review.get(item.id), "the item in the view")
    decision = Decision(
        id="d-poison-401",
        item_id=item.id,
        lane="moderation",
        action="hide",
        by="officer",
        role="officer",
        decided_at=NOW,
    )
    audit = worker.ctx.views.audit
    report(
        await poison(
            worker,
            worker.topics.decisions,
            item.id.encode(),
            [decision],
            lambda: audit.has(decision.id),
        )
    )


async def test_poison_on_triage_moderation(shared_worker):
    """The view's reader dead-letters the pills on moderation's own topic (no agent reads
    it) and still lays the closed record after them over the item."""
    worker = shared_worker
    item = moderation_item(451)
    await send(bootstrap_of(worker), worker.topics.review, [item], item.id.encode())
    view = worker.ctx.views.review
    await until(lambda: view.get(item.id), "the item in the view")
    closed = ItemModeration(
        item_id=item.id,
        status="closed",
        outcome="hide",
        decided_by="officer",
        decided_at=NOW,
        updated_at=NOW,
    )
    report(
        await poison(
            worker,
            worker.topics.moderation,
            item.id.encode(),
            [closed],
            lambda: view.get(item.id).status == "closed",
        )
    )


async def test_poison_on_triage_audit(shared_worker):
    """The audit reader dead-letters the pills (no agent reads the topic) and reads on."""
    worker = shared_worker
    record = AuditRecord(
        id="audit-poison",
        decision_id="audit-poison",
        item_id="rv-x",
        author_key="facebook:poison-author",
        platform="facebook",
        author_id="poison-author",
        channel="nherts",
        comment_key="facebook:c-audit",
        posted_at=NOW,
        text="you idiot",
        action="hide",
        decided_by="officer",
        decided_at=NOW,
    )
    audit = worker.ctx.views.audit
    report(
        await poison(
            worker,
            worker.topics.audit,
            record.author_key.encode(),
            [record],
            lambda: audit.has(record.id),
        )
    )


async def test_poison_on_triage_sla_events(shared_worker):
    """After the pills, a forwarded 'replied' decision still closes the conversation's case."""
    worker = shared_worker
    comment = make_comment(501, "pothole", thread="poison-events")
    key = comment.conversation_key
    sla = worker.ctx.views.sla
    await send(bootstrap_of(worker), worker.topics.comments, [comment], key.encode())

    def case(status: str) -> bool:
        return any(c.conversation_key == key and c.status == status for c in sla.cases())

    await until(lambda: case("open"), "the case to open")
    decision = Decision(
        id="d-poison-events",
        item_id=response_item_id(comment),
        lane="response",
        action="replied",
        by="officer",
        role="officer",
        decided_at=NOW,
        conversation_key=key,
    )
    message = SlaMessage(kind="decision", decision=decision).model_dump_json().encode()
    report(
        await poison(
            worker,
            worker.topics.sla_events,
            key.encode(),
            [message],
            lambda: case("closed"),
            before=1,
        )
    )


async def test_poison_on_triage_sla_state(shared_worker):
    """The state recovery dead-letters the pills and keeps the valid state after them.

    The state is read when partitions are assigned, so the test asks the keeper to take
    its partitions again after writing. An empty value is a tombstone on this compacted
    topic (it forgets a conversation), so it is the one ordinary kind left out here."""
    worker = shared_worker
    key = "facebook:poison-state"
    stored = SlaState(seq=1, partition=0, conversation=Conversation(key=key))
    keeper = worker.ctx.views.sla_keeper
    taken: list[int] = []

    async def reassign_then_check() -> bool:
        if not taken:  # once, after the pills and the state were written
            await until(lambda: keeper.store.ready_partitions() >= keeper.owned, "recovery")
            taken.append(keeper.recovered)
            await keeper.on_assigned(set(keeper.owned))
        return keeper.recovered >= taken[0] + len(keeper.owned) and any(
            keeper.store.get(p, key) is not None for p in keeper.owned
        )

    report(
        await poison(
            worker,
            worker.topics.sla_state,
            key.encode(),
            [stored.model_dump_json().encode()],
            reassign_then_check,
            pills=[p for p in PILLS if p is not None],
        )
    )


async def test_poison_on_triage_emergency(shared_worker):
    """The emergency reader dead-letters the pills and still sees the switch after them."""
    worker = shared_worker
    change = EmergencyChange(id="e-poison", active=False, by="ops", reason="test", at=NOW)
    sla = worker.ctx.views.sla
    report(
        await poison(
            worker,
            worker.topics.emergency,
            change.id.encode(),
            [change],
            lambda: any(c.id == change.id for c in sla.emergency.changes),
        )
    )


async def test_poison_on_triage_cases(shared_worker):
    """The cases reader dead-letters the pills and still shows the case after them."""
    worker = shared_worker
    case = Case(
        id="case-poison",
        conversation_key="facebook:poison-cases",
        number=1,
        platform="facebook",
        channel="nherts",
        status="open",
        opened_by="facebook:c-case",
        author_key="facebook:a-case",
        item_id="rv-case",
        received_at=NOW,
        due_at=NOW,
        target_hours=8.0,
    )
    sla = worker.ctx.views.sla
    report(
        await poison(
            worker,
            worker.topics.cases,
            case.id.encode(),
            [case],
            lambda: sla.get(case.id) is not None,
        )
    )
