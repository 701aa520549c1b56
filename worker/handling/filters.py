"""The queue's filters (lane, channel, assignee, label), as the pages and the API take them.

Both readers of the handling records answer them alike: the in-memory one
(worker/handling/state.py) by testing each item, the database's (worker/db/handling.py)
with one query; tests/integration/test_db_views.py checks that they agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from records import CATEGORIES, ReviewItem
from records.handling import NAME_PATTERN
from records.verdict import LANES, Lane

__all__ = ["ANYONE", "MINE", "UNASSIGNED", "FilterError", "QueueFilter", "parse_filter"]

MINE = "mine"
UNASSIGNED = "unassigned"
ANYONE = ""
_NAME = re.compile(NAME_PATTERN)


class FilterError(ValueError):
    """A filter value that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Which open items to show. ``assignee`` is "" (anyone), ``unassigned`` or an
    officer's name ("mine" is turned into the signed-in user's name by parse_filter)."""

    lane: Lane | None = None
    channel: str | None = None
    assignee: str = ANYONE
    label: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.lane or self.channel or self.assignee or self.label)

    def matches(self, item: ReviewItem, assignee: str | None) -> bool:
        """Whether an item, assigned to ``assignee`` (None: to no one), passes."""
        if self.lane is not None and item.lane != self.lane:
            return False
        if self.channel is not None and item.comment.channel != self.channel:
            return False
        if self.label is not None and (
            item.verdict is None or self.label not in item.verdict.labels
        ):
            return False
        if self.assignee == UNASSIGNED:
            return assignee is None
        return not self.assignee or assignee == self.assignee


def parse_filter(query: Mapping[str, str], user: str) -> QueueFilter:
    """The filter in a query string; raises FilterError naming the bad value."""
    lane = query.get("lane") or None
    if lane is not None and lane not in LANES:
        raise FilterError(f"lane must be one of {', '.join(LANES)}")
    channel = (query.get("channel") or "").strip() or None
    if channel is not None and len(channel) > 200:
        raise FilterError("channel must be at most 200 characters")
    label = query.get("label") or None
    if label is not None and label not in CATEGORIES:
        raise FilterError(f"label must be one of {', '.join(CATEGORIES)}")
    assignee = (query.get("assignee") or "").strip()
    if assignee == MINE:
        assignee = user
    elif assignee and assignee != UNASSIGNED and not _NAME.match(assignee):
        raise FilterError("assignee must be mine, unassigned or an officer's user name")
    return QueueFilter(lane=lane, channel=channel, assignee=assignee, label=label)
