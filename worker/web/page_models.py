"""What the officers' pages show, built from the records: pure functions, no web, no Kafka.

Templates receive these plain values and escape every string they print; URLs from
outside are kept only when they are http(s), so a ``javascript:`` link never renders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from records import CATEGORIES, ReviewItem
from records.moderation import Action, AuthorLedger, Role
from records.verdict import AuthorHistory, Category, Lane
from worker.moderation.decisions import LANE_ACTIONS, may

LANE_ORDER: tuple[Lane, ...] = ("urgent", "response", "moderation")
LANE_TITLES: dict[Lane, str] = {
    "urgent": "Urgent",
    "response": "Replies due",
    "moderation": "Moderation",
}
LANE_HINTS: dict[Lane, str] = {
    "urgent": "Emergency or safety wording: look at these first.",
    "response": "Service requests and queries waiting for a first reply, soonest deadline first.",
    "moderation": "Posts that may break the acceptable use policy, oldest first.",
}
CATEGORY_TEXT: dict[Category, str] = {
    "service_request": "Service request",
    "abusive": "Abusive",
    "misinformation": "Misinformation",
    "spam": "Spam",
}
CATEGORY_COLOUR: dict[Category, str] = {
    "service_request": "blue",
    "abusive": "red",
    "misinformation": "orange",
    "spam": "purple",
}

# The label, the hint on the full form, and whether it needs something typed in.
ACTION_TEXT: dict[Action, tuple[str, str]] = {
    "dismiss": ("Not a breach", "Dismiss: the post is acceptable (this also corrects the model)."),
    "hide": ("Hide", "Hide the post and record it as unacceptable."),
    "delete": ("Delete", "Delete the post and record it as unacceptable."),
    "warn": ("Send warning", "Record that the written warning was sent to the author."),
    "recommend_block": ("Recommend block", "Ask a manager to block the author."),
    "block": ("Block author", "Managers only: block the author (they may appeal after 12 months)."),
    "unblock": ("Lift block", "Managers only, after an appeal: fill in who approved it."),
    "report_police": ("Report to police", "Record a police report: fill in the reference."),
    "ban_from_channel": ("Ban from channel", "Misinformation: remove it and ban the author here."),
    "relabel": ("Correct labels", "Tick the right labels below."),
    "replied": ("Replied", "The council has replied to this person."),
    "no_reply_needed": ("No reply needed", "Close the case without a reply."),
    "moved_private": ("Moved to private", "The conversation moved to a private channel."),
}
# Buttons on the queue: the steps that need nothing typed in, most common first.
QUICK_ACTIONS: dict[Lane, tuple[Action, ...]] = {
    "urgent": ("replied", "moved_private", "hide", "dismiss"),
    "response": ("replied", "moved_private", "no_reply_needed"),
    "moderation": ("hide", "delete", "warn", "ban_from_channel", "recommend_block", "dismiss"),
}
WARNING_ACTIONS: frozenset[Action] = frozenset({"block", "delete"})


def local_time(instant: datetime | None, zone: ZoneInfo) -> str:
    """An instant as the council reads it, in the policy's zone: "Tue 24 Nov 2026, 10:00"."""
    if instant is None:
        return ""
    local = instant.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain web address, otherwise None (no javascript:, data: ...)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def author_href(author_key: str) -> str:
    return "/authors/" + quote(author_key, safe="")


def item_href(item_id: str) -> str:
    return "/items/" + quote(item_id, safe="")


def duration_text(delta: timedelta) -> str:
    minutes = int(abs(delta).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    return f"{minutes} min"


def history_text(history: AuthorHistory | None, ledger: AuthorLedger | None) -> str:
    """One line about the author's record, from the item's summary or the ledger."""
    if history is None and ledger is not None:
        block = ledger.active_block
        history = AuthorHistory(
            strikes=len(ledger.strikes),
            warnings=len(ledger.warnings),
            blocked=block is not None,
            appealable_from=block.appealable_from if block else None,
            banned_channels=ledger.banned_channels,
            police_reports=len(ledger.police_reports),
        )
    if history is None:
        return "No earlier record."
    parts = [
        f"{history.strikes} unacceptable post{'s' if history.strikes != 1 else ''} recorded",
        f"{history.warnings} warning{'s' if history.warnings != 1 else ''}",
    ]
    if history.blocked:
        appeal = history.appealable_from.isoformat() if history.appealable_from else "unknown"
        parts.append(f"blocked (may appeal from {appeal})")
    if history.banned_channels:
        parts.append("banned from " + ", ".join(history.banned_channels))
    if history.police_reports:
        parts.append(f"{history.police_reports} police report(s)")
    return "; ".join(parts) + "."


@dataclass(frozen=True)
class ActionButton:
    value: Action
    label: str
    hint: str
    primary: bool = False
    warning: bool = False


def actions_for(lane: Lane, role: Role | None, recommended: Iterable[str]) -> list[ActionButton]:
    """Every step this role may take on an item of this lane, recommended ones marked."""
    if role is None:
        return []
    wanted = set(recommended)
    buttons = []
    for action, (label, hint) in ACTION_TEXT.items():
        if action in LANE_ACTIONS[lane] and may(role, action):
            buttons.append(
                ActionButton(
                    action,
                    label,
                    hint,
                    primary=action in wanted,
                    warning=action in WARNING_ACTIONS and action not in wanted,
                )
            )
    return buttons


@dataclass(frozen=True)
class ItemView:
    id: str
    anchor: str
    lane: Lane
    lane_title: str
    href: str
    decide_href: str
    next: str
    closed: bool
    closed_text: str
    author_display: str
    author_key: str
    author_href: str
    platform: str
    channel: str
    kind: str
    posted_at_iso: str
    posted_at_text: str
    url: str | None
    text: str
    media: list[dict[str, str | None]]
    labels: list[dict[str, str]]
    reasons: list[dict[str, str]]
    recommended: list[str]
    history_text: str
    due_text: str = ""
    due_state_text: str = ""
    due_colour: str = "grey"
    actions: list[ActionButton] = field(default_factory=list)
    more_actions: bool = False
    # Whom the item is assigned to, and the other officers who have it open now.
    assignee: str = ""
    handled_by: list[str] = field(default_factory=list)

    def without_actions(self) -> ItemView:
        return replace(self, actions=[], more_actions=False)


def due_state(
    due_at: datetime | None,
    now: datetime,
    left: timedelta | None,
    at_risk: timedelta,
    zone: ZoneInfo,
) -> tuple[str, str, str]:
    """(text, tag, colour) for a reply deadline; ``left`` is working time left if known."""
    if due_at is None:
        return "", "", "grey"
    if left is None:
        left = due_at - now
    when = local_time(due_at, zone)
    if now >= due_at or left <= timedelta(0):
        return f"Reply was due {when}.", "Breached", "red"
    text = f"Reply due {when} ({duration_text(left)} working time left)."
    if left <= at_risk:
        return text, "At risk", "orange"
    return text, "On time", "green"


def item_view(
    item: ReviewItem,
    *,
    role: Role | None,
    now: datetime,
    ledger: AuthorLedger | None = None,
    working_left: timedelta | None = None,
    at_risk: timedelta = timedelta(hours=2),
    next_url: str = "/",
    zone: ZoneInfo,
) -> ItemView:
    comment = item.comment
    author = comment.author
    if author.name and author.handle:
        display = f"{author.name} (@{author.handle})"
    else:
        display = author.name or (
            f"@{author.handle}" if author.handle else f"{comment.platform} user {author.id}"
        )
    verdict = item.verdict
    labels = [
        {
            "text": CATEGORY_TEXT[c],
            "colour": CATEGORY_COLOUR[c],
            "score": f"{verdict.scores.get(c, 0.0):.2f}" if verdict else "",
        }
        for c in (verdict.labels if verdict else ())
    ]
    if verdict is not None and verdict.possible_query:
        # Not labelled a request, but given a deadline in case it is one.
        labels.append(
            {
                "text": "Possible query",
                "colour": "yellow",
                "score": f"{verdict.scores.get('service_request', 0.0):.2f}",
            }
        )
    reasons = [
        {"code": r.code.replace("_", " "), "clause": r.clause, "evidence": r.evidence}
        for r in (verdict.reasons if verdict else ())
    ]
    recommended = list(item.recommended) or list(verdict.actions if verdict else ())
    advice = (
        [item.recommendation]
        if item.recommendation
        else [ACTION_TEXT[a][0] if a in ACTION_TEXT else a.replace("_", " ") for a in recommended]
    )
    closed = item.status == "closed"
    every = [] if closed else actions_for(item.lane, role, recommended)
    misinformation = verdict is not None and "misinformation" in verdict.labels
    quick = [
        b
        for b in every
        if b.value in QUICK_ACTIONS[item.lane] and (b.value != "ban_from_channel" or misinformation)
    ]
    text, state, colour = ("", "", "grey")
    if item.lane in ("response", "urgent") and not closed:
        text, state, colour = due_state(item.due_at, now, working_left, at_risk, zone)
    outcome = (item.outcome or "closed").replace("_", " ")
    return ItemView(
        id=item.id,
        anchor="".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in item.id),
        lane=item.lane,
        lane_title=LANE_TITLES[item.lane],
        href=item_href(item.id),
        decide_href=item_href(item.id) + "/decision",
        next=next_url,
        closed=closed,
        closed_text=f"Closed: {outcome}"
        + (f" by {item.decided_by}" if item.decided_by else "")
        + (f" on {local_time(item.decided_at, zone)}" if item.decided_at else "")
        + ".",
        author_display=display,
        author_key=comment.author_key,
        author_href=author_href(comment.author_key),
        platform=comment.platform,
        channel=comment.channel,
        kind=comment.kind.replace("_", " "),
        posted_at_iso=comment.created_at.isoformat(),
        posted_at_text=local_time(comment.created_at, zone),
        url=safe_url(comment.url),
        text=comment.text,
        media=[{"type": m.type, "url": safe_url(m.url)} for m in comment.media],
        labels=labels,
        reasons=reasons,
        recommended=[a for a in advice if a],
        history_text=history_text(item.history, ledger),
        due_text=text,
        due_state_text=state,
        due_colour=colour,
        actions=quick,
        more_actions=len(every) > len(quick),
    )


def queue_order(items: Iterable[ReviewItem]) -> dict[Lane, list[ReviewItem]]:
    """Items by lane: urgent and moderation oldest first, replies by deadline."""
    lanes: dict[Lane, list[ReviewItem]] = {lane: [] for lane in LANE_ORDER}
    for item in items:
        lanes[item.lane].append(item)
    far = datetime.max.replace(tzinfo=UTC)
    lanes["urgent"].sort(key=lambda i: (i.comment.created_at, i.id))
    lanes["response"].sort(key=lambda i: (i.due_at or far, i.comment.created_at, i.id))
    lanes["moderation"].sort(key=lambda i: (i.comment.created_at, i.id))
    return lanes


def daily_volumes(
    items: Iterable[ReviewItem], start: date, end: date, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """Labelled comments per local day (in ``zone``) and category, ``start`` to ``end``.

    A comment queued in two lanes is counted once.
    """
    labelled = (
        (i.comment.comment_key, i.comment.created_at, tuple(i.verdict.labels))
        for i in items
        if i.verdict is not None
    )
    return daily_counts(labelled, start, end, zone)


def daily_counts(
    labelled: Iterable[tuple[str, datetime, Sequence[str]]], start: date, end: date, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """:func:`daily_volumes` from (comment key, posted at, labels) of each item."""
    seen: set[str] = set()
    counts: Counter[tuple[date, str]] = Counter()
    for key, posted_at, labels in labelled:
        if key in seen:
            continue
        seen.add(key)
        day = posted_at.astimezone(zone).date()
        for category in labels:
            counts[(day, category)] += 1
    rows = []
    day = start
    while day <= end:
        row: dict[str, Any] = {"day": day}
        row.update({c: counts[(day, c)] for c in CATEGORIES})
        rows.append(row)
        day += timedelta(days=1)
    return rows


def csv_cell(value: object) -> str:
    """A value safe to open in a spreadsheet: posts are untrusted, and a spreadsheet would
    run a cell that starts like a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def lane_counts(lanes: Mapping[Lane, Sequence[Any]]) -> str:
    return ", ".join(f"{len(lanes[lane])} {LANE_TITLES[lane].lower()}" for lane in LANE_ORDER)
