"""The moderation workflow on the embedded broker: items, decisions, ledger, audit, labels."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from click.testing import CliRunner

from records import Comment, DeadLetter, Reason, Verdict
from records.moderation import AuditRecord, Decision, LabelExample
from records.sla import Alert
from tests.integration.conftest import KeywordClassifier
from tests.polling import until
from worker.cli import cli
from worker.clock import ManualClock
from worker.moderation.decisions import DecisionRefused, DecisionRequest
from worker.moderation.service import submit_decision
from worker.users import User

pytestmark = pytest.mark.integration

OFFICER = User("olive", "officer")
MANAGER = User("mona", "manager")
# A leap day, at noon so the UTC and London dates agree.
LEAP_DAY = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
WAIT_S = 60.0


@pytest.fixture(autouse=True)
def moderation_only(monkeypatch):
    """Run the triage and moderation parts only: the SLA part has its own tests."""
    from worker.moderation.agent import register

    monkeypatch.setattr("worker.app.PARTS", (register,))


class ModerationClassifier(KeywordClassifier):
    """The shared stand-in plus 'hoax' -> misinformation (moderation lane)."""

    @staticmethod
    def _one(text: str) -> Verdict:
        verdict = KeywordClassifier._one(text)
        if "hoax" not in text:
            return verdict
        data: dict[str, Any] = verdict.model_dump()
        data["labels"] = [*verdict.labels, "misinformation"]
        data["scores"] = {**verdict.scores, "misinformation": 0.9}
        data["reasons"] = [*verdict.reasons, Reason(code="misleading", clause="test")]
        data["lane"] = "moderation"
        if "lanes" in data:
            data["lanes"] = ["moderation"]
        return Verdict.model_validate(data)


def post(cid: str, text: str, author: str = "a1") -> Comment:
    return Comment.model_validate(
        {
            "schema": 1,
            "id": cid,
            "platform": "facebook",
            "channel": "nherts",
            "kind": "comment",
            "thread_id": f"t-{cid}",
            "author": {"id": author, "handle": "@h", "name": "N"},
            "text": text,
            "created_at": LEAP_DAY,
            "received_at": LEAP_DAY,
        }
    )


async def start(running_worker):
    worker = await running_worker(classifier=ModerationClassifier(), clock=ManualClock(LEAP_DAY))
    await asyncio.wait_for(worker.ctx.views.moderation_reader.wait_caught_up(), WAIT_S)
    return worker


async def moderation_item(worker, comment: Comment, *, enriched: bool = True):
    review = worker.ctx.views.review

    def find():
        for item in review.items(lane="moderation", status=None):
            if item.comment.comment_key == comment.comment_key:
                return item
        return None

    item = await until(find, f"a moderation item for {comment.id}")
    if enriched:
        # The agent's advice on the item, on triage.moderation, has reached the view.
        await until(lambda: review._state.moderation.get(item.id), "the moderation record")
    return item


async def test_offences_warning_then_block_by_manager(running_worker, produce, read_topic):
    """First offence: hide and warn, recorded; second: block, managers only, MD alerted."""
    worker = await start(running_worker)
    topics, ctx = worker.topics, worker.ctx
    first = post("c1", "you idiot")
    await produce(topics.comments, [first], key=lambda c: c.conversation_key)
    item = await moderation_item(worker, first)
    assert item.recommended == ("hide", "warn")

    await submit_decision(ctx, OFFICER, DecisionRequest(item_id=item.id, action="hide"))
    [audit] = await read_topic(topics.audit, 1, AuditRecord)
    assert (audit.action, audit.decided_by, audit.author_key) == ("hide", "olive", "facebook:a1")
    assert (audit.text, audit.account_handle, audit.posted_at) == ("you idiot", "@h", LEAP_DAY)
    assert audit.reasons
    assert audit.categories == ("abusive",)
    ledger = ctx.views.ledger
    await until(lambda: ledger.get("facebook:a1"), "the author's ledger")
    assert len(ledger.get("facebook:a1").strikes) == 1
    assert ctx.views.review.get(item.id).status == "closed"
    with pytest.raises(DecisionRefused) as closed:
        await submit_decision(ctx, OFFICER, DecisionRequest(item_id=item.id, action="delete"))
    assert closed.value.status == 409

    second = post("c2", "idiot again")
    await produce(topics.comments, [second], key=lambda c: c.conversation_key)
    item2 = await moderation_item(worker, second)
    assert "block" in item2.recommended
    assert item2.history is not None
    assert item2.history.strikes == 1

    with pytest.raises(DecisionRefused) as refused:
        await submit_decision(ctx, OFFICER, DecisionRequest(item_id=item2.id, action="block"))
    assert refused.value.status == 403
    await submit_decision(ctx, MANAGER, DecisionRequest(item_id=item2.id, action="block"))

    alerts = await read_topic(topics.alerts, 1, Alert)
    assert alerts[0].kind == "author_blocked"
    assert alerts[0].subject == "facebook:a1"
    assert alerts[0].data["for"] == "managing_director"
    records = await read_topic(topics.audit, 2, AuditRecord)
    block = next(r for r in records if r.action == "block")
    assert block.decided_by == "mona"
    assert block.appealable_from == date(2029, 2, 28)
    await until(lambda: ledger.get("facebook:a1").active_block, "the block in the ledger")
    assert ledger.get("facebook:a1").active_block.appealable_from == date(2029, 2, 28)
    assert [a.author_key for a in ledger.blocks(appealable=False)] == ["facebook:a1"]


async def test_same_decision_twice_gives_one_strike(running_worker, produce, read_topic):
    """A decision delivered twice (API repeat, a duplicate on the topic) counts once; its id
    with other content is dead-lettered."""
    worker = await start(running_worker)
    topics, ctx = worker.topics, worker.ctx
    comment = post("c3", "idiot", author="a3")
    await produce(topics.comments, [comment], key=lambda c: c.conversation_key)
    item = await moderation_item(worker, comment, enriched=False)
    request = DecisionRequest(item_id=item.id, action="warn")
    first = await submit_decision(ctx, OFFICER, request)
    again = await submit_decision(ctx, OFFICER, request)
    assert (first.repeat, again.repeat) == (False, True)
    # And the same record again straight onto the topic, as a redelivery would be.
    await produce(topics.decisions, [first.decision], key=item.id)
    # Its id with other content (the app never sends that) is dead-lettered, not applied.
    forged = first.decision.model_copy(update={"action": "report_police", "reference": "X1"})
    await produce(topics.decisions, [forged], key=item.id)
    # A later, different decision shows when the agent has passed the duplicates.
    await submit_decision(ctx, OFFICER, DecisionRequest(item_id=item.id, action="hide"))
    # One author's records share a partition, in order: a doubled warning would come
    # before the hide.
    records = await read_topic(topics.audit, 2, AuditRecord)
    assert [r.action for r in records] == ["warn", "hide"]
    decisions = await read_topic(topics.decisions, 4, Decision)
    assert len({d.id for d in decisions}) == 2
    [letter] = await read_topic(topics.deadletter, 1, DeadLetter)
    assert letter.error == f"decision id {first.decision.id} reused"
    assert ctx.views.review.decision(first.decision.id).action == "warn"
    ledger = await until(lambda: ctx.views.ledger.get("facebook:a3"), "ledger")
    await until(lambda: len(ctx.views.ledger.get("facebook:a3").warnings) == 1, "warning")
    assert len(ledger.strikes) == 1


async def test_misinformation_ban_and_label_corrections(
    running_worker, produce, read_topic, tmp_path, topic_prefix
):
    """Misinformation recommends removal and a ban; a dismissal is a labelled correction."""
    worker = await start(running_worker)
    topics, ctx = worker.topics, worker.ctx
    hoax = post("c4", "the bin strike is a hoax", author="a4")
    fine = post("c5", "idiot proof instructions, thanks", author="a5")
    await produce(topics.comments, [hoax, fine], key=lambda c: c.conversation_key)
    hoax_item = await moderation_item(worker, hoax)
    assert hoax_item.recommended == ("delete", "ban_from_channel")
    fine_item = await moderation_item(worker, fine, enriched=False)

    await submit_decision(
        ctx, OFFICER, DecisionRequest(item_id=hoax_item.id, action="ban_from_channel")
    )
    await submit_decision(ctx, OFFICER, DecisionRequest(item_id=fine_item.id, action="dismiss"))

    labels = {x.comment_key: x for x in await read_topic(topics.labels, 2, LabelExample)}
    assert labels["facebook:c5"].labels == ()
    assert labels["facebook:c5"].source == "corrected"
    assert labels["facebook:c5"].text == fine.text
    assert labels["facebook:c4"].labels == ("misinformation",)
    assert labels["facebook:c4"].source == "confirmed"
    ledger = await until(lambda: ctx.views.ledger.get("facebook:a4"), "ledger")
    assert ledger.banned_channels == ("nherts",)
    assert ctx.views.ledger.get("facebook:a5") is None  # a dismissal is no strike

    # `triage labels export` turns them into the JSONL that `triage train --labels` reads.
    out = tmp_path / "labels.jsonl"
    env = {"TRIAGE_BROKER": worker.settings.broker, "TRIAGE_TOPIC_PREFIX": topic_prefix}
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["labels", "export", "--out", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"text": fine.text, "labels": []} in lines
    assert {"text": hoax.text, "labels": ["misinformation"]} in lines
