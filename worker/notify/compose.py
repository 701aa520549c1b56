"""Alert -> the messages to send, per channel and recipient: the pure part of the notifier.

Who gets what (issue 14): deadline alerts go to the officers (a missed deadline to the
Communications Manager too) and to the team's chat; blocks and unblocks go to the Managing
Director by mail only; an urgent post that arrived out of hours to the officer on call.
Each message holds no more than its reader needs: the SLA and urgent alerts
carry no resident's data at all; a block notice to the Managing Director carries what the
policy asks for (the account's name and handle, its posts, the reasons, who decided, the
appeal date: the alert's ``notice``), and a message to anyone else none of that.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import jinja2

from records.sla import Alert
from worker.notify.config import NotificationsPolicy, Recipients, Role

__all__ = [
    "Channel",
    "Fact",
    "Message",
    "NoRoute",
    "Post",
    "compose",
    "render_html",
    "render_text",
    "slack_payload",
    "teams_payload",
]

Channel = Literal["email", "slack", "teams"]
CHAT: tuple[Channel, ...] = ("slack", "teams")

# Which roles each alert kind is for, by mail.
ROUTES: dict[str, tuple[Role, ...]] = {
    "sla_at_risk": ("officers",),
    "sla_breach": ("officers", "comms_manager"),
    "author_blocked": ("managing_director",),
    "author_unblocked": ("managing_director",),
    "urgent_out_of_hours": ("on_call",),
    "daily_digest": ("officers", "comms_manager"),
}

HEADINGS: dict[str, str] = {
    "sla_at_risk": "Reply deadline near",
    "sla_breach": "Reply deadline missed",
    "author_blocked": "An account was blocked",
    "author_unblocked": "An account was unblocked",
    "urgent_out_of_hours": "Urgent post out of hours",
    "daily_digest": "This morning's summary",
}


READERS: dict[str, str] = {
    "officers": "one of the officers",
    "comms_manager": "the Communications Manager",
    "managing_director": "the Managing Director",
    "on_call": "the officer on call",
    "chat": "a member of this channel",
}


class NoRoute(ValueError):
    """The alert is of a kind the notifier does not know, or no one is set to receive it."""

    safe_message = True


Fact = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Post:
    """One post shown in a block notice: when and where, its words, why it was judged."""

    heading: str
    text: str
    link: str | None
    facts: tuple[Fact, ...]


@dataclass(frozen=True, slots=True)
class Message:
    """One message for one recipient (one address by mail; the channel for chat)."""

    alert_id: str
    kind: str
    channel: Channel
    role: Role | Literal["chat"]
    to: str | None
    subject: str
    heading: str
    summary: str
    facts: tuple[Fact, ...]
    link: str | None
    # Only in the Managing Director's notice of a block.
    posts: tuple[Post, ...] = ()

    @property
    def key(self) -> str:
        """Names this delivery, so a retry of the alert sends only what is still unsent."""
        return f"{self.alert_id}|{self.channel}|{self.role}|{self.to or ''}"

    @property
    def reader(self) -> str:
        """Who the message is for, in words (the footer says why they receive it)."""
        return READERS[self.role]

    @property
    def label(self) -> str:
        """For logs and dead letters: the channel and role, never the address."""
        return f"{self.channel} to {self.role}"


def _local(value: Any, zone: ZoneInfo) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    if at.tzinfo is None:
        return at.strftime("%a %d %b %Y")  # a date, as the appeal date is
    return at.astimezone(zone).strftime("%a %d %b %Y %H:%M")


def _facts(alert: Alert, zone: ZoneInfo) -> tuple[Fact, ...]:
    data = alert.data
    facts: list[Fact] = []
    pairs: tuple[tuple[str, Any], ...]
    if alert.kind == "daily_digest":
        lanes = [k for k in data if k.startswith("waiting_")]
        pairs = (
            *((f"Waiting: {k.removeprefix('waiting_')} lane", data[k]) for k in lanes),
            (f"Deadlines missed since {_local(data.get('since'), zone)}", data.get("breaches")),
            (f"Accounts blocked since {_local(data.get('since'), zone)}", data.get("blocks")),
        )
    elif alert.kind == "urgent_out_of_hours":
        pairs = (
            ("Channel", f"{data.get('platform')}: {data.get('channel')}"),
            ("Received", _local(data.get("received_at"), zone)),
            ("Found", data.get("labels")),
            ("Why urgent", data.get("reasons")),
            ("Emergency mode", "on" if data.get("emergency") else None),
            ("Review item", data.get("item_id")),
        )
    elif alert.kind.startswith("sla_"):
        pairs = (
            ("Channel", data.get("channel")),
            ("Received", _local(data.get("received_at"), zone)),
            ("Due", _local(data.get("due_at"), zone)),
            ("Review item", data.get("item_id")),
        )
    else:
        pairs = (
            ("Account", alert.subject),
            ("Decided by", data.get("decided_by")),
            ("May appeal from", _local(data.get("appealable_from"), zone)),
            ("Review item", data.get("item_id")),
            ("Audit record", data.get("audit_id")),
        )
    for label, value in pairs:
        if value is not None and value != "":
            facts.append((label, str(value)))
    return tuple(facts)


def _notice(alert: Alert, zone: ZoneInfo) -> tuple[tuple[Fact, ...], tuple[Post, ...]]:
    """The facts and posts of the Managing Director's notice (its reader only)."""
    notice = alert.notice
    if notice is None:
        return _facts(alert, zone), ()
    shown = len(notice.posts)
    count = (
        f"{notice.posts_total} (the latest {shown} below)"
        if notice.posts_total > shown
        else str(notice.posts_total)
    )
    pairs: tuple[tuple[str, Any], ...] = (
        ("Name", notice.account_name),
        ("Handle", notice.account_handle),
        ("Account", alert.subject),
        ("Platform", notice.platform),
        ("Decided by", notice.decided_by),
        ("Decided", _local(notice.decided_at.isoformat(), zone)),
        ("Approved by", notice.approved_by),
        ("Reasons", "; ".join(notice.reasons)),
        ("Officer's note", notice.note),
        ("Posts", count if notice.posts_total else None),
        (
            "May appeal from",
            _local(notice.appealable_from.isoformat(), zone) if notice.appealable_from else None,
        ),
        ("Review item", alert.data.get("item_id")),
        ("Audit record", alert.data.get("audit_id")),
    )
    facts = tuple((label, str(v)) for label, v in pairs if v is not None and v != "")
    posts = tuple(
        Post(
            heading=f"Posted {_local(post.posted_at.isoformat(), zone)} on {post.channel}",
            text=post.text,
            link=post.url,
            facts=tuple(
                (label, value)
                for label, value in (
                    ("Found", ", ".join(post.categories)),
                    ("Why", "; ".join(post.reasons)),
                    ("Review item", post.item_id),
                )
                if value
            ),
        )
        for post in notice.posts
    )
    return facts, posts


def compose(
    alert: Alert,
    *,
    recipients: Recipients,
    channels: tuple[Channel, ...],
    policy: NotificationsPolicy,
    zone: ZoneInfo,
    app_url: str = "",
) -> list[Message]:
    """The messages ``alert`` calls for on the configured ``channels``.

    Raises :class:`NoRoute` for an unknown kind, and when none of them can be delivered
    (no channel configured for it, or no address for its roles): someone must look.
    """
    roles = ROUTES.get(alert.kind)
    if roles is None:
        raise NoRoute(f"no route for alert kind {alert.kind!r}")
    heading = HEADINGS[alert.kind]
    item_id = alert.data.get("item_id")
    link = f"{app_url.rstrip('/')}/items/{item_id}" if app_url and item_id else None
    base = Message(
        alert_id=alert.id,
        kind=alert.kind,
        channel="email",
        role="chat",
        to=None,
        subject=f"{policy.subject_prefix} {heading}".strip(),
        heading=heading,
        summary=alert.message,
        facts=_facts(alert, zone),
        link=link,
    )
    out: list[Message] = []
    facts, posts = _notice(alert, zone)
    if "email" in channels:
        for role in roles:
            personal = role == "managing_director"
            for address in recipients.get(role, ()):
                message = replace(base, channel="email", role=role, to=address)
                if personal:
                    message = replace(message, facts=facts, posts=posts)
                out.append(message)
    if alert.kind in policy.chat_kinds:
        for channel in CHAT:
            if channel in channels:
                out.append(replace(base, channel=channel, role="chat"))
    if not out:
        raise NoRoute(
            f"no one to tell about a {alert.kind} alert: set an address for "
            + " or ".join(roles)
            + (" or a chat webhook" if alert.kind in policy.chat_kinds else "")
        )
    return out


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("worker.notify", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render_text(message: Message) -> str:
    """The plain-text body of a mail."""
    return _env.get_template("alert.txt").render(m=message)


def render_html(message: Message) -> str:
    """The HTML body of a mail (headings, a definition list, no images or colour cues)."""
    return _env.get_template("alert.html").render(m=message)


def _mrkdwn(text: str) -> str:
    # Slack's three control characters; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _quote(text: str) -> str:
    return "\n".join("> " + _mrkdwn(line) for line in text.splitlines() or [""])


def slack_payload(message: Message) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``text`` (the notification's fallback) and Block Kit
    ``blocks``: a header, the summary, the facts as fields, the link."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.heading[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(message.summary)}},
    ]
    if message.facts:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{_mrkdwn(k)}*\n{_mrkdwn(v)}"}
                    for k, v in message.facts[:10]  # Slack takes at most ten fields
                ],
            }
        )
    for n, post in enumerate(message.posts, 1):
        lines = [f"*{n}. {_mrkdwn(post.heading)}*", _quote(post.text)]
        lines += [f"{_mrkdwn(k)}: {_mrkdwn(v)}" for k, v in post.facts]
        if post.link:
            lines.append(f"<{post.link}|The post on the platform>")
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}}
        )
    if message.link:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"<{message.link}|Open the review item>"},
            }
        )
    return {"text": f"{message.heading}: {message.summary}"[:3000], "blocks": blocks}


ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def teams_payload(message: Message) -> dict[str, Any]:
    """A Teams Workflows webhook body: a ``message`` whose one attachment is an Adaptive
    Card with the heading, the summary, the facts (a FactSet) and the link."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": message.heading,
            "size": "Medium",
            "weight": "Bolder",
            "style": "heading",
            "wrap": True,
        },
        {"type": "TextBlock", "text": message.summary, "wrap": True},
    ]
    if message.facts:
        body.append(
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in message.facts]}
        )
    for n, post in enumerate(message.posts, 1):
        items: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": f"{n}. {post.heading}", "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": post.text, "wrap": True},
        ]
        if post.facts:
            items.append(
                {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in post.facts]}
            )
        if post.link:
            items.append(
                {
                    "type": "ActionSet",
                    "actions": [
                        {
                            "type": "Action.OpenUrl",
                            "title": "The post on the platform",
                            "url": post.link,
                        }
                    ],
                }
            )
        body.append({"type": "Container", "separator": True, "items": items})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if message.link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open the review item", "url": message.link}
        ]
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }
