"""The erasure list in the worker's memory: erased people's words and names, redacted.

The moderation view folds ``triage.erasures`` (records/privacy.py) with its other topics
and keeps each erased author's review items, audit records and ledger in the redacted
form below, whichever arrives first; the moderation step writes no label example of their
posts. What is redacted matches the database's redaction (worker/db/erasure.py): the text,
name, handle, links, media, evidence quoted from the text and notes that may quote it. The
author key and what was decided, by whom and when stay, as the policy's record must.
"""

from __future__ import annotations

from records import ReviewItem
from records.moderation import AuditRecord, AuthorLedger, Decision
from records.verdict import Reason, Verdict

__all__ = ["ERASED", "redact_audit", "redact_decision", "redact_item", "redact_ledger"]

ERASED = "[erased]"


def _reasons(reasons: tuple[Reason, ...]) -> tuple[Reason, ...]:
    return tuple(r.model_copy(update={"evidence": ERASED}) if r.evidence else r for r in reasons)


def _verdict(verdict: Verdict | None) -> Verdict | None:
    if verdict is None:
        return None
    return verdict.model_copy(update={"reasons": _reasons(verdict.reasons)})


def redact_item(item: ReviewItem) -> ReviewItem:
    """The item with its post's text, links, media and author's name and handle blanked."""
    comment = item.comment
    author = comment.author.model_copy(update={"name": None, "handle": None})
    blank = comment.model_copy(update={"text": ERASED, "url": None, "media": (), "author": author})
    update: dict[str, object] = {"comment": blank, "verdict": _verdict(item.verdict)}
    if item.note:
        update["note"] = ERASED
    return item.model_copy(update=update)


def redact_audit(record: AuditRecord) -> AuditRecord:
    """The policy's record with the post's words and the account's names blanked."""
    return record.model_copy(
        update={
            "text": ERASED,
            "url": None,
            "account_name": None,
            "account_handle": None,
            "reasons": _reasons(record.reasons),
            "note": ERASED if record.note else "",
        }
    )


def redact_ledger(ledger: AuthorLedger) -> AuthorLedger:
    """The author's record without the account's name and handle (the key stays)."""
    return ledger.model_copy(update={"account_name": None, "account_handle": None})


def redact_decision(decision: Decision) -> Decision:
    """The decision as shown: the officer's note (which may quote the post) blanked."""
    return decision.model_copy(update={"note": ERASED}) if decision.note else decision
