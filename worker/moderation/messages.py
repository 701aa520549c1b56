"""The messages officers send (written warning, channel ban, appeal route), from the
policy file's templates, filled in for one case.

Templates are Jinja2 in a sandbox, so a council editing the policy file cannot reach
Python objects through them; every value is passed as plain text. The output is plain
text for a private message; pages that show it escape it as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from records.moderation import AuthorLedger
from records.verdict import ReviewItem
from worker.moderation.ledger import appeal_date
from worker.moderation.policy import MessageTemplates

__all__ = [
    "MESSAGE_KINDS",
    "Message",
    "MessageError",
    "MessageKind",
    "check_templates",
    "messages_for",
    "render",
]

MessageKind = Literal["warning", "channel_ban", "appeal"]
MESSAGE_KINDS: tuple[MessageKind, ...] = ("warning", "channel_ban", "appeal")


class MessageError(ValueError):
    """A template in the policy file does not parse or render; names which one."""


@dataclass(frozen=True, slots=True)
class Message:
    kind: MessageKind
    text: str


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def check_templates(templates: MessageTemplates) -> None:
    """Parse each template now, so a mistake shows at start-up rather than mid-case."""
    env = _environment()
    for kind in MESSAGE_KINDS:
        try:
            env.from_string(getattr(templates, kind))
        except TemplateError as exc:
            raise MessageError(f"messages.{kind}: {exc}") from None


def _clean(value: object) -> str:
    # Names come from social platforms: keep them on one line, without control characters.
    text = str(value) if value is not None else ""
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()


def render(
    kind: MessageKind,
    templates: MessageTemplates,
    item: ReviewItem,
    ledger: AuthorLedger | None = None,
) -> Message:
    """The message of this kind for the item's author, ready for an officer to send."""
    comment = item.comment
    reasons = ", ".join(
        _clean(r.clause or r.code) for r in (item.verdict.reasons if item.verdict else ())
    )
    block = ledger.active_block if ledger else None
    blocked_on = block.at.date() if block else None
    appealable = block.appealable_from if block else None
    if appealable is None and blocked_on is not None:
        appealable = appeal_date(blocked_on)
    values = {
        "name": _clean(comment.author.name or comment.author.handle or "there"),
        "handle": _clean(comment.author.handle or ""),
        "platform": _clean(comment.platform),
        "channel": _clean(comment.channel),
        "posted_on": comment.created_at.date().isoformat(),
        "reasons": reasons or "unacceptable content",
        "policy_url": _clean(templates.policy_url),
        "council": _clean(templates.council_name),
        "blocked_on": blocked_on.isoformat() if blocked_on else "",
        "appealable_from": appealable.isoformat() if appealable else "",
    }
    try:
        text = _environment().from_string(getattr(templates, kind)).render(values)
    except TemplateError as exc:
        raise MessageError(f"messages.{kind}: {exc}") from None
    return Message(kind, text.strip())


def messages_for(
    templates: MessageTemplates, item: ReviewItem, ledger: AuthorLedger | None
) -> list[Message]:
    """The messages that fit the item's recommended steps and the author's record."""
    kinds: list[MessageKind] = []
    if "warn" in item.recommended or "hide" in item.recommended:
        kinds.append("warning")
    if "ban_from_channel" in item.recommended:
        kinds.append("channel_ban")
    if ledger is not None and ledger.active_block is not None:
        kinds.append("appeal")
    return [render(kind, templates, item, ledger) for kind in kinds]
