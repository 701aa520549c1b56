"""The erasure list in the moderation view's memory: redaction in either order of arrival."""

from __future__ import annotations

from datetime import UTC, datetime

from records.moderation import AuditRecord
from records.privacy import Erasure
from records.verdict import Reason
from tests.contract.moderation import item
from worker.clock import ManualClock
from worker.moderation.erasure import ERASED, redact_item
from worker.moderation.policy import ModerationConfig
from worker.moderation.review_view import ModerationState, fill

NOW = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
ERASURE = Erasure(author_key="facebook:a1", erased_at=NOW, by="admin", reason="REQ-1")


def audit(n: int, author: str = "a1") -> AuditRecord:
    return AuditRecord(
        id=f"d{n}",
        decision_id=f"d{n}",
        item_id=f"rv-{n}",
        author_key=f"facebook:{author}",
        platform="facebook",
        author_id=author,
        account_name="N",
        account_handle="@h",
        channel="nherts",
        comment_key=f"facebook:c{n}",
        posted_at=NOW,
        text="you idiot",
        url="https://facebook.example/c",
        reasons=(Reason(code="abuse", clause="rude posts", evidence="idiot"),),
        action="hide",
        decided_by="olive",
        decided_at=NOW,
        note="called them an idiot",
    )


def state() -> ModerationState:
    return ModerationState(config=ModerationConfig(), clock=ManualClock(NOW))


def test_records_before_and_after_the_erasure_are_both_redacted():
    """An erased author's item, audit record and ledger are redacted whether they were
    folded before the erasure arrived or after; another author's stay as they were."""
    for order in ("before", "after"):
        records = [item(1, author="a1"), audit(1), item(2, author="a2"), audit(2, author="a2")]
        folded = fill(state(), [*records, ERASURE] if order == "before" else [ERASURE, *records])
        shown = folded.get("rv-1")
        assert shown is not None
        assert (shown.comment.text, shown.comment.author.handle) == (ERASED, None), order
        record = folded.audit["d1"]
        assert (record.text, record.url, record.account_name, record.note) == (
            ERASED,
            None,
            None,
            ERASED,
        )
        assert record.reasons[0].evidence == ERASED
        assert (record.action, record.decided_by) == ("hide", "olive")
        ledger = folded.ledgers["facebook:a1"]
        assert (ledger.account_name, ledger.account_handle) == (None, None)
        assert len(ledger.strikes) == 1
        assert folded.get("rv-2").comment.text == "you idiot"
        assert folded.audit["d2"].text == "you idiot"
        assert folded.ledgers["facebook:a2"].account_handle == "@h"


def test_redaction_is_the_databases():
    """The worker's marker is the database's, so both show an erasure the same way, and
    redacting twice changes nothing more."""
    from worker.db.erasure import ERASED as DATABASE_ERASED

    assert ERASED == DATABASE_ERASED
    once = redact_item(item(1))
    assert redact_item(once) == once


def test_decisions_on_an_erased_authors_item_are_shown_without_notes():
    """The review view shows the officer's note on an erased author's item blanked,
    while the state keeps it whole, so a redelivered decision still matches the first."""
    from records.moderation import Decision
    from worker.moderation.review_view import ReviewView

    decision = Decision(
        id="d1",
        item_id="rv-1",
        lane="moderation",
        action="hide",
        by="olive",
        role="officer",
        decided_at=NOW,
        note="they said idiot",
    )
    folded = fill(state(), [item(1, author="a1"), decision, item(2, author="a2"), ERASURE])
    other = decision.model_copy(update={"id": "d2", "item_id": "rv-2"})
    folded.add_decision(other)
    view = ReviewView(folded)
    assert [d.note for d in view.decisions("rv-1")] == [ERASED]
    assert [d.note for d in view.decisions("rv-2")] == ["they said idiot"]
    assert folded.decisions_by_id["d1"].note == "they said idiot"
