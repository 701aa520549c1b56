"""The reply-tracking contract: what the SLA part does, whatever carries its records.

:class:`SlaContract` holds the tests; a backend subclass provides the ``sla`` fixture, a
:class:`SlaBackend`. ``MemorySla`` runs the case keeper's adapter and pure step with a
``MemoryProducer`` and no Kafka at all (tests/unit/test_sla_contract.py); the broker
backend runs a whole worker on the embedded broker (tests/integration/test_sla_contract.py).
The model is arroyo's one contract suite over two backends (tests/backends/mixins.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from records import Comment, ReviewItem, decode, encode
from records.ids import review_item_id
from records.moderation import Decision
from records.sla import Alert, Case
from tests.integration.conftest import KeywordClassifier
from worker.clock import ManualClock
from worker.metrics import Metrics
from worker.moderation.policy import ModerationConfig
from worker.moderation.review_view import ModerationState
from worker.producer import MemoryProducer
from worker.runtime import Fatal, Runtime
from worker.settings import Settings
from worker.sla.agent import CaseKeeper, load_policy
from worker.sla.store import PartitionStore
from worker.sla.view import SlaView
from worker.triage import classify_batch, outputs_for

LONDON = ZoneInfo("Europe/London")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def post(
    cid: str,
    text: str,
    when: str,
    *,
    council: bool = False,
    thread: str = "t1",
    kind: str | None = None,
) -> Comment:
    return Comment.model_validate(
        {
            "schema": 1,
            "id": cid,
            "platform": "facebook",
            "channel": "nherts",
            "kind": kind or ("reply" if council else "comment"),
            "thread_id": thread,
            "author": {"id": "council" if council else "resident-1", "is_council": council},
            "text": text,
            "created_at": at(when),
            "received_at": at(when),
        }
    )


def reply_decision(comment: Comment, action: str, when: str, did: str = "d-1") -> Decision:
    return Decision(
        id=did,
        item_id=review_item_id(comment, "response"),
        lane="response",
        action=action,  # type: ignore[arg-type]
        by="officer",
        role="officer",
        decided_at=at(when),
        comment_key=comment.comment_key,
        conversation_key=comment.conversation_key,
    )


class SlaBackend(Protocol):
    clock: ManualClock

    async def send_comment(self, comment: Comment) -> None: ...
    async def send_decision(self, decision: Decision) -> None: ...
    async def advance(self, when: datetime) -> None:
        """Move the clock; the timer then runs as it would."""

    async def cases(self, n: int) -> list[Case]:
        """Every version written to ``triage.cases``, once at least ``n`` are there."""

    async def alerts(self, n: int) -> list[Alert]:
        """Every alert written, once at least ``n`` are there."""

    async def quiet(self) -> None:
        """Let the timer run a few more times."""

    async def alert_count(self) -> int:
        """Alert records on ``triage.alerts`` now (after ``quiet``)."""

    async def officers_item(self, item_id: str, done: Callable[[ReviewItem], bool]) -> ReviewItem:
        """The officers' view of a review item, once ``done`` holds for it."""

    async def review_writes(self, item_id: str) -> int:
        """Records written to ``triage.review`` under this item id."""

    async def restart(self) -> None:
        """A new worker (or keeper) in place of the old one, from the state on the topic."""


class SlaContract:
    """The SLA behaviours; subclasses give the ``sla`` fixture."""

    async def test_query_then_council_reply_closes_with_working_hours(self, sla: Any) -> None:
        """A Friday 16:00 query is due Monday 16:00; the Monday 11:30 reply closes it at 3.5 h."""
        await sla.advance(at("2026-11-27T16:00"))
        await sla.send_comment(
            post("q1", "There is a pothole outside number 4", "2026-11-27T16:00")
        )
        [opened] = await sla.cases(1)
        assert (opened.status, opened.due_at) == ("open", at("2026-11-30T16:00"))

        await sla.advance(at("2026-11-30T11:30"))
        await sla.send_comment(
            post("r1", "Thanks, we've reported it", "2026-11-30T11:30", council=True)
        )
        closed = (await sla.cases(2))[-1]
        assert (closed.id, closed.status, closed.closed_by) == (
            opened.id,
            "closed",
            "council_reply",
        )
        assert closed.response_hours == 3.5

    async def test_unanswered_query_warns_then_breaches_once(self, sla: Any) -> None:
        """With no reply, one at-risk alert at 16:00 and one breach the next day, no more."""
        await sla.advance(at("2026-11-23T10:00"))
        await sla.send_comment(post("q1", "pothole on Station Road", "2026-11-23T10:00"))
        [case] = await sla.cases(1)
        assert case.due_at == at("2026-11-24T10:00")

        await sla.advance(at("2026-11-23T15:59"))
        await sla.quiet()
        assert await sla.alert_count() == 0
        await sla.advance(at("2026-11-23T16:00"))
        [risk] = await sla.alerts(1)
        assert (risk.kind, risk.id) == ("sla_at_risk", f"{case.id}:sla_at_risk")
        assert risk.data["seconds_left"] == 18 * 3600  # clock time to 10:00 tomorrow

        await sla.advance(at("2026-11-24T10:00"))
        alerts = await sla.alerts(2)
        assert [a.kind for a in alerts] == ["sla_at_risk", "sla_breach"]
        await sla.quiet()
        assert await sla.alert_count() == 2
        last = (await sla.cases(3))[-1]
        assert (last.at_risk_alerted, last.breach_alerted) == (True, True)

    async def test_a_reply_decision_ends_the_wait(self, sla: Any) -> None:
        """An officer's 'replied' closes the case at 2 working hours and no alert follows."""
        await sla.advance(at("2026-11-23T10:00"))
        query = post("q1", "pothole by the bus stop", "2026-11-23T10:00")
        await sla.send_comment(query)
        [opened] = await sla.cases(1)
        await sla.advance(at("2026-11-23T12:00"))
        await sla.send_decision(reply_decision(query, "replied", "2026-11-23T12:00"))
        closed = (await sla.cases(2))[-1]
        assert (closed.id, closed.closed_by, closed.closed_by_officer) == (
            opened.id,
            "replied",
            "officer",
        )
        assert closed.response_hours == 2.0
        await sla.advance(at("2026-11-24T10:00"))
        await sla.quiet()
        assert await sla.alert_count() == 0

    async def test_a_decision_that_is_no_reply_leaves_the_case_open(self, sla: Any) -> None:
        """Hiding a query's comment is no answer: the case stays open and still breaches."""
        await sla.advance(at("2026-11-23T10:00"))
        query = post("q1", "pothole, you idiot", "2026-11-23T10:00")
        await sla.send_comment(query)
        [opened] = await sla.cases(1)
        await sla.send_decision(reply_decision(query, "hide", "2026-11-23T10:30"))
        await sla.advance(at("2026-11-23T16:00"))
        await sla.alerts(1)
        await sla.advance(at("2026-11-24T10:00"))
        alerts = await sla.alerts(2)
        assert {a.kind for a in alerts} == {"sla_at_risk", "sla_breach"}
        assert all(c.status == "open" for c in await sla.cases(1))
        assert opened.id in {a.data["case_id"] for a in alerts}

    async def test_the_same_comment_twice_opens_one_case(self, sla: Any) -> None:
        """A comment delivered twice (a replay) is one event: one case, one set of alerts."""
        await sla.advance(at("2026-11-23T10:00"))
        query = post("q1", "pothole again", "2026-11-23T10:00")
        await sla.send_comment(query)
        await sla.send_comment(query)
        await sla.advance(at("2026-11-23T16:00"))
        await sla.alerts(1)
        await sla.advance(at("2026-11-24T10:00"))
        await sla.alerts(2)
        await sla.quiet()
        cases = await sla.cases(1)
        assert len({c.id for c in cases}) == 1
        assert await sla.alert_count() == 2

    async def test_a_follow_up_after_the_reply_opens_the_next_case(self, sla: Any) -> None:
        """The resident writing again after the council's reply is owed a second reply."""
        await sla.advance(at("2026-11-23T10:00"))
        await sla.send_comment(post("q1", "pothole on Mill Lane", "2026-11-23T10:00"))
        await sla.send_comment(post("r1", "We'll look", "2026-11-23T11:00", council=True))
        await sla.send_comment(post("q2", "It is still there", "2026-11-23T12:00"))
        cases = await sla.cases(3)
        latest = {c.id: c for c in cases}
        assert sorted((c.number, c.status) for c in latest.values()) == [(1, "closed"), (2, "open")]

    async def test_officers_see_the_deadline_on_the_one_response_item(self, sla: Any) -> None:
        """The response item officers see carries the case's deadline and closes with it,
        and triage alone writes it to triage.review."""
        await sla.advance(at("2026-11-27T16:00"))
        query = post("q1", "pothole outside the library", "2026-11-27T16:00")
        await sla.send_comment(query)
        [opened] = await sla.cases(1)
        item = await sla.officers_item(opened.item_id, lambda i: i.due_at is not None)
        assert (item.lane, item.status, item.due_at) == ("response", "open", opened.due_at)
        assert item.created_at == opened.received_at
        await sla.send_comment(post("r1", "Reported it", "2026-11-30T09:00", council=True))
        closed = await sla.officers_item(opened.item_id, lambda i: i.status == "closed")
        assert closed.note == "reply case closed: council_reply"
        assert await sla.review_writes(opened.item_id) == 1

    async def test_a_direct_message_is_owed_a_reply_and_shown(self, sla: Any) -> None:
        """A direct message with no label opens a case, and triage writes its response item."""
        await sla.advance(at("2026-11-23T10:00"))
        message = post("m1", "hello, quick question", "2026-11-23T10:00", kind="direct_message")
        await sla.send_comment(message)
        [case] = await sla.cases(1)
        assert case.item_id == review_item_id(message, "response")
        item = await sla.officers_item(case.item_id, lambda i: i.due_at is not None)
        assert (item.lane, item.due_at) == ("response", case.due_at)
        assert await sla.review_writes(case.item_id) == 1

    async def test_restart_between_alerts_sends_no_duplicate(self, sla: Any) -> None:
        """Restarted after the at-risk alert, the SLA part sends only the breach alert."""
        await sla.advance(at("2026-11-23T10:00"))
        await sla.send_comment(post("q1", "pothole near the school", "2026-11-23T10:00"))
        [case] = await sla.cases(1)
        await sla.advance(at("2026-11-23T16:30"))
        await sla.alerts(1)
        await sla.cases(2)  # the state after the alert has been written with its case
        await sla.restart()
        await sla.quiet()
        await sla.advance(at("2026-11-24T10:00"))
        await sla.alerts(2)
        await sla.quiet()
        alerts = await sla.alerts(2)
        assert sorted(a.id for a in alerts) == [f"{case.id}:sla_at_risk", f"{case.id}:sla_breach"]
        assert await sla.alert_count() == 2


def _event(topic: str, key: bytes | None, value: bytes | None, offset: int) -> Any:
    """What the adapter reads of a faust event: its message."""
    message = SimpleNamespace(topic=topic, partition=0, offset=offset, key=key, value=value)
    return SimpleNamespace(message=message)


class MemorySla:
    """The case keeper (adapter and pure step) on a MemoryProducer, with no Kafka at all.

    Triage's outputs are made by its own pure function and fed straight in; what the
    keeper writes to ``triage.sla-events`` is handed back to it, as the broker would.
    """

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock(at("2026-11-23T09:00"))
        self.settings = Settings(topic_prefix="memory.")
        self.topics = self.settings.topics
        self.producer = MemoryProducer()
        self.officers = ModerationState(ModerationConfig(), self.clock)
        self.classifier = KeywordClassifier()
        self.review: list[ReviewItem] = []
        self._offset = 0
        self._events_read = 0
        self._cases_read = 0
        self.keeper = self._keeper()

    def _keeper(self) -> CaseKeeper:
        rt = Runtime(
            settings=self.settings,
            clock=self.clock,
            metrics=Metrics(),
            app=None,
            producer=self.producer,
            fatal=Fatal(),
            channels=None,  # type: ignore[arg-type]  # the keeper writes by topic name
            specs={},
        )
        keeper = CaseKeeper(rt, PartitionStore(), SlaView(load_policy(self.settings)))
        keeper.own({0})
        return keeper

    def _next_offset(self) -> int:
        self._offset += 1
        return self._offset

    async def _pump(self) -> None:
        """Deliver what was written to triage.sla-events, and show new cases to officers."""
        while True:
            events = self.producer.on(self.topics.sla_events)[self._events_read :]
            self._events_read += len(events)
            for sent in events:
                await self.keeper.on_sla_event(
                    _event(sent.topic, sent.key, sent.value, self._next_offset())
                )
            for sent in self.producer.on(self.topics.cases)[self._cases_read :]:
                self.officers.add_case(decode(sent.value, Case))
                self._cases_read += 1
            if not events:
                return

    async def send_comment(self, comment: Comment) -> None:
        [verdict] = classify_batch(self.classifier, [comment])
        out = outputs_for(comment, verdict, self.clock.now())
        for item in out.items:
            self.review.append(item)
            self.officers.add_item(item)
        event = _event(
            self.topics.verdicts,
            comment.conversation_key.encode(),
            encode(out.result),
            self._next_offset(),
        )
        await self.keeper.on_verdict(event)
        await self._pump()

    async def send_decision(self, decision: Decision) -> None:
        self.officers.add_decision(decision)
        event = _event(
            self.topics.decisions, decision.item_id.encode(), encode(decision), self._next_offset()
        )
        pending = await self.keeper.on_decision(event)
        if pending is not None:
            await pending
        await self._pump()

    async def advance(self, when: datetime) -> None:
        self.clock.set(when)
        await self.quiet()

    async def quiet(self) -> None:
        for _ in range(3):
            await self.keeper.scan()
            await self._pump()

    async def cases(self, n: int) -> list[Case]:
        cases = [decode(s.value, Case) for s in self.producer.on(self.topics.cases)]
        assert len(cases) >= n, f"{len(cases)} of {n} cases"
        return cases

    async def alerts(self, n: int) -> list[Alert]:
        alerts = [decode(s.value, Alert) for s in self.producer.on(self.topics.alerts)]
        assert len(alerts) >= n, f"{len(alerts)} of {n} alerts"
        return alerts

    async def alert_count(self) -> int:
        return len(self.producer.on(self.topics.alerts))

    async def officers_item(self, item_id: str, done: Callable[[ReviewItem], bool]) -> ReviewItem:
        item = self.officers.get(item_id)
        assert item is not None, f"officers see no item {item_id}"
        assert done(item), f"officers see {item!r}"
        return item

    async def review_writes(self, item_id: str) -> int:
        return sum(1 for item in self.review if item.id == item_id)

    async def restart(self) -> None:
        """A new keeper that recovers its partition from the state records written."""
        self.keeper = self._keeper()
        store = self.keeper.store
        store.begin(0)
        for sent in self.producer.on(self.topics.sla_state):
            store.on_record(0, sent.key, sent.value)
        store.done(0)
