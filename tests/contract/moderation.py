"""The moderation agent's behaviours, written once and run on two backends.

:class:`ModerationContract` holds the behaviours; a backend subclass says how records
reach the agent and how its outputs are read back: ``test_moderation_memory.py`` calls the
pure step with the in-memory producer, ``test_moderation_broker.py`` runs a worker on the
embedded broker. A backend's ``item`` and ``decision`` return once the agent has handled
the record and its writes are on the (real or in-memory) broker.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from records import Comment, DeadLetter, ReviewItem, Topics
from records.base import Record
from records.moderation import AuditRecord, Decision, ItemModeration, LabelExample
from records.sla import Alert
from tests.integration.conftest import KeywordClassifier

# A leap day, at noon so the UTC and London dates agree.
NOW = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
R = TypeVar("R", bound=Record)


def item(n: int, text: str = "you idiot", author: str | None = None) -> ReviewItem:
    """A moderation-lane item, as triage writes it."""
    comment = Comment.model_validate(
        {
            "schema": 1,
            "id": f"c{n}",
            "platform": "facebook",
            "channel": "nherts",
            "kind": "comment",
            "thread_id": f"t{n}",
            "author": {"id": author or f"a{n}", "handle": "@h", "name": "N"},
            "text": text,
            "created_at": NOW,
            "received_at": NOW,
        }
    )
    verdict = KeywordClassifier._one(text)
    return ReviewItem(
        id=f"rv-{n}", lane="moderation", comment=comment, verdict=verdict, created_at=NOW
    )


def decision(of: ReviewItem, action: Any, *, by: str = "olive", role: Any = "officer") -> Decision:
    return Decision(
        id=f"d-{of.id}-{action}-{by}",
        item_id=of.id,
        lane=of.lane,
        action=action,
        by=by,
        role=role,
        decided_at=NOW,
        comment_key=of.comment.comment_key,
        conversation_key=of.comment.conversation_key,
        author_key=of.comment.author_key,
    )


class ModerationContract(ABC):
    """Behaviours of the moderation step, whatever carries its records."""

    topics: Topics

    @abstractmethod
    async def item(self, record: ReviewItem) -> None:
        """Put an item on triage.review; return once the agent has handled it."""

    @abstractmethod
    async def decision(self, record: Decision) -> None:
        """Put a decision on triage.decisions; return once the agent has read it."""

    @abstractmethod
    async def decision_before_item(self, record: Decision, of: ReviewItem) -> None:
        """The item is on triage.review before the decision, but the agent reads the
        decision first where the backend can choose (the broker cannot: it reads them in
        whichever order its fetches give)."""

    @abstractmethod
    async def written(
        self, topic: str, record_type: type[R], done: Callable[[list[R]], bool]
    ) -> list[R]:
        """What the agent wrote to ``topic``, once ``done`` holds (AssertionError if not)."""

    @abstractmethod
    def view(self) -> Any:
        """The officers' review view (``ctx.views.review``)."""

    @abstractmethod
    async def eventually(self, check: Callable[[], Any], what: str) -> Any:
        """``check()`` once it is truthy (the broker's view reader may lag the agent)."""

    async def shown(self, of: ReviewItem, done: Callable[[ReviewItem], bool]) -> ReviewItem:
        """The item as the view shows it, once ``done`` holds of it."""

        def check() -> ReviewItem | None:
            current = self.view().get(of.id)
            return current if current is not None and done(current) else None

        found: ReviewItem = await self.eventually(check, f"{of.id} in the view")
        return found

    async def latest(
        self, of: ReviewItem, done: Callable[[ItemModeration], bool]
    ) -> ItemModeration:
        """The latest moderation record of ``of``, once ``done`` holds of it."""
        notes = await self.written(
            self.topics.moderation,
            ItemModeration,
            lambda got: (
                any(n.item_id == of.id for n in got)
                and done([n for n in got if n.item_id == of.id][-1])
            ),
        )
        return [n for n in notes if n.item_id == of.id][-1]

    # -- the behaviours ----------------------------------------------------------------
    async def test_an_item_gets_the_authors_record_and_next_step(self) -> None:
        """A new moderation item gets an open record on triage.moderation with the
        author's history and the policy's next step, and the view shows that advice."""
        first = item(1)
        await self.item(first)
        note = await self.latest(first, lambda n: True)
        assert (note.status, note.recommended) == ("open", ("hide", "warn"))
        assert note.history is not None
        assert note.history.strikes == 0
        shown = await self.shown(first, lambda i: i.history is not None)
        assert (shown.status, shown.recommended) == ("open", ("hide", "warn"))

    async def test_a_decision_writes_the_audit_record_and_closes_the_item(self) -> None:
        """A hide writes the policy's audit record and a closed moderation record; the
        view shows the item closed with its outcome."""
        first = item(2)
        await self.item(first)
        await self.decision(decision(first, "hide"))
        [audit] = await self.written(self.topics.audit, AuditRecord, lambda got: len(got) >= 1)
        assert (audit.action, audit.decided_by, audit.author_key) == (
            "hide",
            "olive",
            "facebook:a2",
        )
        assert (audit.text, audit.posted_at, audit.categories) == ("you idiot", NOW, ("abusive",))
        closed = await self.latest(first, lambda n: n.status == "closed")
        assert (closed.outcome, closed.decided_by) == ("hide", "olive")
        shown = await self.shown(first, lambda i: i.status == "closed")
        assert (shown.outcome, shown.decided_by) == ("hide", "olive")
        [label] = await self.written(self.topics.labels, LabelExample, lambda got: len(got) >= 1)
        assert (label.labels, label.source) == (("abusive",), "confirmed")

    async def test_a_block_writes_the_managing_directors_alert(self) -> None:
        """A manager's block is recorded with its appeal date and alerts the MD."""
        first = item(3)
        await self.item(first)
        await self.decision(decision(first, "block", by="mona", role="manager"))
        [alert] = await self.written(self.topics.alerts, Alert, lambda got: len(got) >= 1)
        assert (alert.kind, alert.subject) == ("author_blocked", "facebook:a3")
        assert alert.data["for"] == "managing_director"
        [audit] = await self.written(self.topics.audit, AuditRecord, lambda got: len(got) >= 1)
        assert audit.appealable_from == date(2029, 2, 28)

    async def test_a_block_notice_carries_the_account_and_its_posts(self) -> None:
        """The block alert's notice names the account (name, handle), quotes each post an
        officer found unacceptable with the policy's reasons, and says who decided and the
        appeal date; its message and data stay free of them."""
        first = item(30, "you idiot", author="a30")
        second = item(31, "idiot again", author="a30")
        await self.item(first)
        await self.decision(decision(first, "hide"))
        await self.written(self.topics.audit, AuditRecord, lambda got: len(got) >= 1)
        await self.item(second)
        await self.decision(decision(second, "block", by="mona", role="manager"))
        [alert] = await self.written(self.topics.alerts, Alert, lambda got: len(got) >= 1)
        notice = alert.notice
        assert notice is not None
        assert (notice.account_name, notice.account_handle) == ("N", "@h")
        assert [p.text for p in notice.posts] == ["you idiot", "idiot again"]
        assert notice.posts_total == 2
        assert notice.reasons
        assert all(p.reasons for p in notice.posts)
        assert (notice.decided_by, notice.appealable_from) == ("mona", date(2029, 2, 28))
        assert "idiot" not in alert.message + str(alert.data)
        assert "@h" not in alert.message + str(alert.data)

    async def test_a_closed_item_stays_closed_after_a_replay(self) -> None:
        """The item written again to triage.review (a replay of triage) does not reopen
        it: moderation's latest record and the view both stay closed."""
        first = item(4)
        await self.item(first)
        await self.decision(decision(first, "delete"))
        await self.latest(first, lambda n: n.status == "closed")
        await self.item(first.model_copy(update={"created_at": NOW.replace(hour=13)}))
        notes = await self.written(
            self.topics.moderation, ItemModeration, lambda got: len(got) >= 2
        )
        mine = [n for n in notes if n.item_id == first.id]
        assert [n.status for n in mine] == ["open", "closed"]
        await self.shown(first, lambda i: i.status == "closed")

    async def test_a_reused_decision_id_is_dead_lettered(self) -> None:
        """A decision id seen again with other content is dead-lettered with its reason
        and the first decision stands."""
        first = item(5)
        await self.item(first)
        warn = decision(first, "warn")
        await self.decision(warn)
        forged = warn.model_copy(update={"action": "report_police", "reference": "X1"})
        await self.decision(forged)
        [letter] = await self.written(self.topics.deadletter, DeadLetter, lambda got: len(got) >= 1)
        assert letter.error == f"decision id {warn.id} reused"
        assert letter.original_value is not None
        assert Decision.model_validate_json(letter.original_value).action == "report_police"
        await self.decision(decision(first, "hide"))
        # One author's records share a partition, in order: a forged one would come first.
        audit = await self.written(
            self.topics.audit, AuditRecord, lambda got: any(r.action == "hide" for r in got)
        )
        assert [r.action for r in audit] == ["warn", "hide"]

    async def test_a_decision_delivered_twice_is_recorded_once(self) -> None:
        """The same decision twice on the topic gives one audit record."""
        first = item(6)
        await self.item(first)
        warn = decision(first, "warn")
        await self.decision(warn)
        await self.decision(warn)
        await self.decision(decision(first, "hide"))
        audit = await self.written(
            self.topics.audit, AuditRecord, lambda got: any(r.action == "hide" for r in got)
        )
        assert [r.action for r in audit] == ["warn", "hide"]

    async def test_a_role_that_may_not_act_is_dead_lettered(self) -> None:
        """An officer's block on the topic (the app refuses it) is dead-lettered, not applied."""
        first = item(7)
        await self.item(first)
        await self.decision(decision(first, "block"))
        [letter] = await self.written(self.topics.deadletter, DeadLetter, lambda got: len(got) >= 1)
        assert letter.error == "role officer may not block"
        assert (await self.shown(first, lambda i: True)).status == "open"

    async def test_a_decision_read_before_its_item_is_applied(self) -> None:
        """A decision the agent reads before its item waits for it and is applied when
        the item arrives: the audit record is written and the item closed."""
        first = item(8)
        await self.decision_before_item(decision(first, "hide"), first)
        [audit] = await self.written(self.topics.audit, AuditRecord, lambda got: len(got) >= 1)
        assert (audit.item_id, audit.action) == (first.id, "hide")
        await self.latest(first, lambda n: n.status == "closed")
        await self.shown(first, lambda i: i.status == "closed")

    async def test_a_decision_whose_item_never_comes_is_dead_lettered(self) -> None:
        """A decision on an item that is not on triage.review is dead-lettered with that
        reason once the item's partition has been read to where it ended; others go on."""
        missing = item(9)
        await self.decision(decision(missing, "hide"))
        [letter] = await self.written(self.topics.deadletter, DeadLetter, lambda got: len(got) >= 1)
        assert letter.error == f"no review item {missing.id}"
        other = item(10)
        await self.item(other)
        await self.decision(decision(other, "hide"))
        [audit] = await self.written(self.topics.audit, AuditRecord, lambda got: len(got) >= 1)
        assert audit.item_id == other.id
