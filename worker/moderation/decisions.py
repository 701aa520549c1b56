"""Checking an officer's decision before it is written: who may do what, on which item.

An item closes with the decision about the post itself (dismiss, hide, delete, ban, or
for the response lane replied / no reply needed / moved private). Steps about the author
(warn, recommend or make a block, unblock, police report) and label corrections may
follow on a closed item, but not on one dismissed as no breach.

Decision ids are made here, never taken from the client: an ``id`` the client sends is
only its own retry key, hashed together with the signed-in user's name, so no one can
claim the id another officer's decision will get. The same id again with the same
content is a repeat (applied once); with different content it is refused with 409.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from records.ids import decision_id, keyed_decision_id
from records.moderation import (
    ACTIONS,
    CLOSING_ACTIONS,
    REPLY_ACTIONS,
    Action,
    AuthorLedger,
    Decision,
    Role,
    role_at_least,
)
from records.verdict import CATEGORIES, Category, Lane, ReviewItem

__all__ = [
    "KEY_PATTERN",
    "LANE_ACTIONS",
    "REQUIRED_ROLE",
    "DecisionRefused",
    "DecisionRequest",
    "build_decision",
    "effective_labels",
    "id_for",
    "may",
    "same_content",
]

# The least role that may take each action (roles are ordered viewer < ... < admin).
REQUIRED_ROLE: dict[Action, Role] = {
    "dismiss": "officer",
    "hide": "officer",
    "delete": "officer",
    "warn": "officer",
    "recommend_block": "officer",
    "block": "manager",
    "unblock": "manager",
    "report_police": "officer",
    "ban_from_channel": "officer",
    "relabel": "officer",
    "replied": "officer",
    "no_reply_needed": "officer",
    "moved_private": "officer",
}

# Replying is the response lane's business; everything else is moderation. Both may relabel.
_MODERATION: frozenset[Action] = frozenset(ACTIONS) - REPLY_ACTIONS
_RESPONSE: frozenset[Action] = REPLY_ACTIONS | {"relabel"}
LANE_ACTIONS: dict[Lane, frozenset[Action]] = {
    "moderation": _MODERATION,
    "response": _RESPONSE,
    "urgent": _MODERATION | _RESPONSE,
}


def may(role: Role, action: Action) -> bool:
    return role_at_least(role, REQUIRED_ROLE[action])


class DecisionRefused(Exception):
    """The decision cannot be taken; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """What an officer asks for, as it arrives from the API or a form.

    ``id`` is the client's retry key (optional): the decision's id is made from it and
    the user's name by :func:`id_for`.
    """

    item_id: str
    action: str
    note: str = ""
    reference: str | None = None
    labels: tuple[str, ...] | None = None
    approved_by: str | None = None
    id: str | None = None


KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def id_for(request: DecisionRequest, user: str) -> str:
    """The decision's id: from the client's retry key when given, else from what it does."""
    if request.id is None:
        return decision_id(request.item_id, request.action, user)
    if not KEY_PATTERN.match(request.id):
        raise DecisionRefused(
            422, "'id' is a retry key of 1-100 letters, digits or . _ : - characters"
        )
    return keyed_decision_id(user, request.id)


def same_content(one: Decision, other: Decision) -> bool:
    """Whether two decisions ask for the same thing (when and under which id aside)."""
    fields = ("item_id", "action", "by", "note", "reference", "labels", "approved_by")
    return all(getattr(one, name) == getattr(other, name) for name in fields)


def _labels(raw: tuple[str, ...] | None) -> tuple[Category, ...] | None:
    if raw is None:
        return None
    unknown = sorted(set(raw) - set(CATEGORIES))
    if unknown:
        raise DecisionRefused(422, f"unknown labels {unknown}; use {list(CATEGORIES)}")
    return tuple(c for c in CATEGORIES if c in raw)


def _check_action(action: str) -> Action:
    for known in ACTIONS:
        if action == known:
            return known
    raise DecisionRefused(422, f"unknown action {action!r}; use one of {list(ACTIONS)}")


def effective_labels(item: ReviewItem) -> tuple[Category, ...]:
    return item.verdict.labels if item.verdict else ()


def build_decision(
    request: DecisionRequest,
    *,
    user: str,
    role: Role,
    item: ReviewItem | None,
    ledger: AuthorLedger | None,
    previous: Decision | None,
    now: datetime,
) -> tuple[Decision, bool]:
    """A valid Decision, and whether it was taken already (a repeat has no effect).

    ``item`` is the current state of the item as the review view knows it (None when
    unknown), ``ledger`` the author's record, ``previous`` the decision already seen
    under this request's id (:func:`id_for`), if any: the same content is a repeat and
    comes back as it was first taken; other content is refused with 409. Raises
    :class:`DecisionRefused` with 422, 403, 404 or 409.
    """
    action = _check_action(request.action)
    if not may(role, action):
        raise DecisionRefused(
            403,
            f"the {role} role may not {action.replace('_', ' ')}: it needs {REQUIRED_ROLE[action]}",
        )
    if item is None:
        raise DecisionRefused(404, f"no review item {request.item_id!r}")
    labels = _labels(request.labels)
    decision = Decision(
        id=id_for(request, user),
        item_id=item.id,
        lane=item.lane,
        action=action,
        by=user,
        role=role,
        decided_at=now,
        note=request.note,
        reference=request.reference or None,
        labels=labels,
        approved_by=request.approved_by or None,
        comment_key=item.comment.comment_key,
        conversation_key=item.comment.conversation_key,
        author_key=item.comment.author_key,
    )
    if previous is not None:
        if not same_content(previous, decision):
            what = "under this id" if request.id else f"{action} on this item"
            raise DecisionRefused(409, f"you have already recorded {what} with different details")
        return previous, True
    if action not in LANE_ACTIONS[item.lane]:
        raise DecisionRefused(
            422,
            f"{action} is not a decision for the {item.lane} lane; use one of "
            f"{sorted(LANE_ACTIONS[item.lane])}",
        )
    _check_fields(decision, item)
    _check_state(decision, item, ledger, now)
    return decision, False


def _check_fields(decision: Decision, item: ReviewItem) -> None:
    if decision.action == "report_police" and not decision.reference:
        raise DecisionRefused(422, "report_police needs the police reference in 'reference'")
    if decision.action == "relabel" and decision.labels is None:
        raise DecisionRefused(422, "relabel needs the right labels in 'labels' (a list)")
    if decision.action == "unblock" and not decision.approved_by:
        raise DecisionRefused(
            422, "unblock needs the Managing Director's approval in 'approved_by'"
        )
    if decision.action == "ban_from_channel":
        labels = decision.labels if decision.labels is not None else effective_labels(item)
        if "misinformation" not in labels:
            raise DecisionRefused(
                422, "ban_from_channel is for misinformation; relabel the item first"
            )


def _check_state(
    decision: Decision, item: ReviewItem, ledger: AuthorLedger | None, now: datetime
) -> None:
    action = decision.action
    if item.status == "closed":
        if action in CLOSING_ACTIONS:
            raise DecisionRefused(
                409, f"item {item.id} is already closed ({item.outcome or 'closed'})"
            )
        if item.outcome == "dismiss" and action != "relabel":
            raise DecisionRefused(409, f"item {item.id} was dismissed as not a breach")
    block = ledger.active_block if ledger else None
    if action == "block" and block is not None:
        raise DecisionRefused(409, f"the author is already blocked (since {block.at.date()})")
    if action == "unblock":
        if block is None:
            raise DecisionRefused(409, "the author is not blocked")
        if now.date() < block.appealable_from:
            raise DecisionRefused(
                409, f"a block may be appealed only from {block.appealable_from.isoformat()}"
            )
