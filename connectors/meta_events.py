"""Meta webhook payloads (Facebook Page and Instagram) to Comments. Pure: no I/O.

Handled:

- Page ``feed`` changes: ``item: comment`` with verb ``add`` or ``edited`` (replies carry a
  ``parent_id`` that is not the post), and visitor posts (``item: post/status/photo/video``);
- Instagram ``comments`` / ``live_comments`` changes, and ``mentions`` (ids only);
- Messenger and Instagram direct messages (``entry[].messaging[]`` with a ``message``).

Removals, reactions, read receipts and the like are counted as ignored. An item that cannot
be mapped is counted as malformed and skipped; the rest of the delivery still goes through.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from connectors.sink import Outgoing
from records import Author, Comment, CommentKind, Media

_FEED_POSTS = {"post", "status", "photo", "video", "share"}
_ATTACHMENTS = {"image": "image", "video": "video", "audio": "audio", "file": "other"}


class MalformedDelivery(ValueError):
    """The body is not a Meta webhook delivery at all."""


@dataclass(slots=True)
class Mapped:
    items: list[Outgoing] = field(default_factory=list)
    ignored: int = 0
    malformed: int = 0


@dataclass(frozen=True, slots=True)
class Accounts:
    """The council's own ids: what they write is marked ``is_council``."""

    page_id: str = ""
    ig_user_id: str = ""


def map_delivery(payload: Any, accounts: Accounts, received: datetime) -> Mapped:
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise MalformedDelivery("expected an object with an entry list")
    obj = payload.get("object")
    if obj not in ("page", "instagram"):
        raise MalformedDelivery("object must be page or instagram")
    platform = "facebook" if obj == "page" else "instagram"
    own = accounts.page_id if obj == "page" else accounts.ig_user_id
    out = Mapped()
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            out.malformed += 1
            continue
        entry_id = entry.get("id")
        if not isinstance(entry_id, str | int) or isinstance(entry_id, bool):
            out.malformed += 1
            continue
        channel = str(entry_id) or own or "unknown"
        try:
            sent = _time(entry.get("time"), received)
        except (TypeError, ValueError, OverflowError, OSError):
            sent = received
        where = _Where(platform, channel, own, sent, received)
        for change in _list(entry.get("changes")):
            _one(out, _change, where, change)
        for message in _list(entry.get("messaging")):
            _one(out, _message, where, message)
    return out


@dataclass(frozen=True, slots=True)
class _Where:
    """Where an item arrived: platform, council account, and when."""

    platform: str
    channel: str
    own: str
    sent: datetime
    received: datetime


def _one(
    out: Mapped, build: Callable[[_Where, Any], Outgoing | None], where: _Where, raw: Any
) -> None:
    try:
        item = build(where, raw)
    except (
        ValidationError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        OverflowError,
        OSError,
    ):
        out.malformed += 1
        return
    if item is None:
        out.ignored += 1
    else:
        out.items.append(item)


def _change(where: _Where, change: Any) -> Outgoing | None:
    field_name = change["field"]
    value = change["value"]
    if not isinstance(value, dict):
        raise TypeError("value must be an object")
    if where.platform == "facebook" and field_name == "feed":
        return _feed(value, where)
    if where.platform == "instagram" and field_name in ("comments", "live_comments"):
        return _ig_comment(value, where)
    if where.platform == "instagram" and field_name == "mentions":
        return _ig_mention(value, where)
    return None


def _feed(value: dict[str, Any], where: _Where) -> Outgoing | None:
    channel, own, received = where.channel, where.own, where.received
    item = value.get("item")
    verb = value.get("verb")
    if verb not in ("add", "edited"):
        return None  # remove, hide, unhide...: nothing new to read
    sender = value.get("from") or {}
    author = Author(
        id=_need(sender.get("id")),
        name=_str(sender.get("name")) or None,
        is_council=bool(own) and _str(sender.get("id")) == own,
    )
    created = _time(value.get("created_time"), received)
    text = _str(value.get("message"))
    media = _feed_media(value)
    if item == "comment":
        comment_id = _need(value.get("comment_id"))
        post_id = _need(value.get("post_id"))
        parent = _str(value.get("parent_id")) or post_id
        on_post = parent == post_id
        comment = Comment(
            id=comment_id,
            platform="facebook",
            channel=channel,
            kind="comment" if on_post else "reply",
            thread_id=comment_id if on_post else parent,
            in_reply_to=parent,
            author=author,
            text=text,
            created_at=created,
            received_at=received,
            url=f"https://www.facebook.com/{comment_id}",
            media=media,
        )
    elif item in _FEED_POSTS:
        post_id = _need(value.get("post_id"))
        comment = Comment(
            id=post_id,
            platform="facebook",
            channel=channel,
            kind="post",
            thread_id=post_id,
            author=author,
            text=text,
            created_at=created,
            received_at=received,
            url=f"https://www.facebook.com/{post_id}",
            media=media,
        )
    else:
        return None
    return Outgoing(comment, _dedup_key(comment, edited=verb == "edited"))


def _feed_media(value: dict[str, Any]) -> tuple[Media, ...]:
    found: list[Media] = []
    photo = value.get("photo")
    if isinstance(photo, str) and photo:
        found.append(Media(type="image", url=photo))
    for url in _list(value.get("photos")):
        if isinstance(url, str) and url:
            found.append(Media(type="image", url=url))
    video = value.get("video")
    if isinstance(video, str) and video:
        found.append(Media(type="video", url=video))
    link = value.get("link")
    if isinstance(link, str) and link:
        found.append(Media(type="link", url=link))
    return tuple(found)


def _ig_comment(value: dict[str, Any], where: _Where) -> Outgoing:
    channel, own, sent, received = where.channel, where.own, where.sent, where.received
    comment_id = _need(value.get("id"))
    sender = value.get("from") or {}
    media = value.get("media") or {}
    parent = _str(value.get("parent_id")) or None
    author = Author(
        id=_need(sender.get("id")),
        handle=_str(sender.get("username")) or None,
        is_council=bool(own) and _str(sender.get("id")) == own,
    )
    comment = Comment(
        id=comment_id,
        platform="instagram",
        channel=channel,
        kind="reply" if parent or author.is_council else "comment",
        thread_id=parent or comment_id,
        in_reply_to=parent or _str(media.get("id")) or None,
        author=author,
        text=_str(value.get("text")),
        created_at=sent,  # the comments webhook carries no creation time
        received_at=received,
    )
    return Outgoing(comment, _dedup_key(comment))


def _ig_mention(value: dict[str, Any], where: _Where) -> Outgoing:
    channel, sent, received = where.channel, where.sent, where.received
    # The mentions webhook carries ids only; text and author must be read from the Graph API.
    comment_id = _str(value.get("comment_id"))
    media_id = _need(value.get("media_id"))
    target = comment_id or media_id
    comment = Comment(
        id=target,
        platform="instagram",
        channel=channel,
        kind="mention",
        thread_id=target,
        in_reply_to=media_id if comment_id else None,
        author=Author(id="unknown"),
        text="",
        created_at=sent,
        received_at=received,
    )
    return Outgoing(comment, _dedup_key(comment))


def _message(where: _Where, event: Any) -> Outgoing | None:
    platform, channel, own, received = where.platform, where.channel, where.own, where.received
    if not isinstance(event, dict):
        raise TypeError("messaging item must be an object")
    message = event.get("message")
    if not isinstance(message, dict) or message.get("is_deleted"):
        return None  # delivery, read, reaction, postback, unsend
    sender = _need((event.get("sender") or {}).get("id"))
    recipient = _str((event.get("recipient") or {}).get("id"))
    is_council = bool(message.get("is_echo")) or (bool(own) and sender == own)
    other = recipient if is_council else sender
    kind: CommentKind = "direct_message"
    comment = Comment(
        id=_need(message.get("mid")),
        platform=platform,
        channel=channel,
        kind=kind,
        thread_id=f"dm-{_need(other)}",
        in_reply_to=_str((message.get("reply_to") or {}).get("mid")) or None,
        author=Author(id=sender, is_council=is_council),
        text=_str(message.get("text")),
        created_at=_time(event.get("timestamp"), received),
        received_at=received,
        media=tuple(
            Media(
                type=_ATTACHMENTS.get(_str(a.get("type")), "other"),
                url=_need((a.get("payload") or {}).get("url")),
            )
            for a in _list(message.get("attachments"))
            if isinstance(a, dict)
            and isinstance(a.get("payload"), dict)
            and (a.get("payload") or {}).get("url")
        ),
    )
    return Outgoing(comment, _dedup_key(comment))


def _dedup_key(comment: Comment, edited: bool = False) -> str:
    if not edited:
        return comment.comment_key
    # An edit is new content under the same id: deliver each distinct version once.
    digest = hashlib.sha256(comment.text.encode("utf-8")).hexdigest()[:16]
    return f"{comment.comment_key}#edit:{digest}"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int | str):
        return str(value)
    raise TypeError("expected a string")


def _need(value: Any) -> str:
    text = _str(value)
    if not text:
        raise KeyError("a required id is missing")
    return text


def _time(value: Any, default: datetime) -> datetime:
    """Unix seconds (feed), milliseconds (messaging) or ISO-8601 -> aware UTC."""
    if value is None or isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 100_000_000_000 else value
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        if value.isdigit():
            return _time(int(value), default)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("timestamp without a time zone")
        return parsed.astimezone(UTC)
    raise TypeError("unsupported timestamp")
