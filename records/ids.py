"""The deterministic ids of the records on the topics: part of the wire contract.

A record written twice (a retry, a replay after a restart) gets the same id, so readers
drop the copy. Records already on the topics carry these ids, so each derivation below
must keep giving the same value: tests/unit/test_ids.py pins them.
"""

from __future__ import annotations

import hashlib

from records.comment import Comment
from records.verdict import Lane

__all__ = [
    "automatic_decision_id",
    "block_alert_id",
    "case_id",
    "decision_id",
    "keyed_decision_id",
    "review_item_id",
    "sla_alert_id",
    "urgent_alert_id",
]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def review_item_id(comment: Comment, lane: Lane) -> str:
    """A review item on ``triage.review``: ``rv-`` and the first 24 hex digits of the
    SHA-256 of ``"<comment_key>|<lane>"`` (the comment's platform-wide key and the lane)."""
    digest = _sha256(f"{comment.comment_key}|{lane}")
    return f"rv-{digest[:24]}"


def case_id(conversation_key: str, opened_by: str) -> str:
    """A reply case on ``triage.cases``: ``case-`` and the first 24 hex digits of the
    SHA-256 of ``"<conversation_key>|<opened_by>"``, where ``opened_by`` is the id of the
    case event that opened it (``comment:<comment_key>`` for a resident's query)."""
    digest = _sha256(f"{conversation_key}|{opened_by}")
    return f"case-{digest[:24]}"


def sla_alert_id(case_id: str, kind: str) -> str:
    """An SLA alert on ``triage.alerts``: ``"<case_id>:<kind>"``, the case's id and the
    alert kind (``sla_at_risk`` or ``sla_breach``), so each case alerts once per kind."""
    return f"{case_id}:{kind}"


def block_alert_id(action: str, decision_id: str) -> str:
    """A block or unblock alert on ``triage.alerts``: ``"md-<action>-<decision_id>"``,
    the moderation action (``block`` or ``unblock``) and the id of the decision that took it."""
    return f"md-{action}-{decision_id}"


def urgent_alert_id(item_id: str) -> str:
    """An urgent-lane post that arrived out of hours, for the officer on call:
    ``"urgent-ooh-<item_id>"``, the review item's id, so each item alerts once."""
    return f"urgent-ooh-{item_id}"


def decision_id(item_id: str, action: str, by: str) -> str:
    """A decision on ``triage.decisions`` sent without a retry key: ``d-`` and the first 32
    hex digits of the SHA-256 of the review item id, the action and the user's name joined
    by the unit separator (``\\x1f``): the same user taking the same action on the same
    item gives the same id."""
    digest = _sha256(f"{item_id}\x1f{action}\x1f{by}")
    return f"d-{digest[:32]}"


def keyed_decision_id(by: str, key: str) -> str:
    """A decision on ``triage.decisions`` sent with the client's retry key: ``k-`` and the
    first 32 hex digits of the SHA-256 of the user's name and the key joined by the unit
    separator (``\\x1f``).

    User names cannot hold the separator, so two users never reach the same input; the
    ``k-`` prefix keeps these ids apart from :func:`decision_id`'s.
    """
    digest = _sha256(f"{by}\x1f{key}")
    return f"k-{digest[:32]}"


def automatic_decision_id(item_id: str) -> str:
    """The policy's automatic hide of a review item: ``"auto-<item_id>"``, one per item."""
    return f"auto-{item_id}"
