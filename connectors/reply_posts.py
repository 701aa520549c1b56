"""What each platform is asked, to post an officer's reply (connectors/replies.py sends).

Each platform's request, as its reference documents it:

- Facebook: ``POST /{comment-id}/comments`` with ``message``; a private reply is
  ``POST /{page-id}/messages`` with ``recipient.comment_id`` and ``message.text``;
- Instagram: ``POST /{ig-comment-id}/replies`` with ``message``; a private reply is
  ``POST /{ig-user-id}/messages`` with the same ``recipient`` and ``message``;
- X: ``POST /2/tweets`` with ``text`` and ``reply.in_reply_to_tweet_id``; a private
  message is ``POST /2/dm_conversations/with/{participant_id}/messages`` with ``text``;
- Mastodon: ``POST /api/v1/statuses`` with ``status``, ``in_reply_to_id`` and
  ``visibility`` (``direct``, with the author's handle mentioned, for a private message).

Only posts that the platform's own connector brought are answered (:func:`check_request`),
and every id that reaches a URL path is checked first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.http import PlatformClient, PlatformRefused, PlatformUnavailable
from records.reply import ReplyRequest

__all__ = ["CONNECTOR_FOR", "Posted", "Refused", "check_request", "post_reply", "why"]

# The connector whose posts may be answered, per platform (the others could name a real
# post without having come from it).
CONNECTOR_FOR = {"facebook": "meta", "instagram": "meta", "x": "x", "mastodon": "mastodon"}
_PLATFORM_ID = re.compile(r"^[0-9A-Za-z_]{1,100}$")
_HANDLE = re.compile(r"^[A-Za-z0-9_.@-]{1,200}$")


@dataclass(frozen=True, slots=True)
class Posted:
    """What the platform made: the new post's or message's id."""

    id: str


class Refused(Exception):
    """The reply cannot be sent; the reason names the platform and status, never the post."""


def check_request(request: ReplyRequest) -> str | None:
    """Why the request is not sent, or None to go ahead."""
    platform = request.platform
    expected = CONNECTOR_FOR.get(platform)
    if expected is None:
        return f"replies cannot be sent on {platform[:40]}"
    if request.connector != expected:
        came = f"the {request.connector[:40]} connector" if request.connector else "no connector"
        return f"not sent: the {platform} post came through {came}, not {expected}"
    if not request.comment_key.startswith(f"{platform}:") or not _PLATFORM_ID.match(
        request.native_id
    ):
        return f"the comment key does not hold a {platform} id"
    if request.private and platform == "x" and not _PLATFORM_ID.match(request.author_id):
        return "the author's X id is not a valid id"
    handle = request.author_handle or ""
    if request.private and platform == "mastodon" and not _HANDLE.match(handle):
        return "a private Mastodon message needs the author's handle, which the post lacks"
    return None


async def post_reply(
    client: PlatformClient, request: ReplyRequest, own_ids: dict[str, str]
) -> Posted:
    """Ask the platform to post the reply; raises Refused, PlatformRefused or
    PlatformUnavailable."""
    platform, native, text = request.platform, request.native_id, request.text
    if platform in ("facebook", "instagram"):
        if request.private:
            own = own_ids.get(platform, "")
            if not _PLATFORM_ID.match(own):
                setting = "META_PAGE_ID" if platform == "facebook" else "META_IG_USER_ID"
                raise Refused(f"a private reply needs TRIAGE_{setting}")
            body: dict[str, Any] = {
                "recipient": {"comment_id": native},
                "message": {"text": text},
            }
            response = await client.request("POST", f"/{own}/messages", json=body)
            return _posted(response, platform, "message_id")
        edge = "comments" if platform == "facebook" else "replies"
        response = await client.request("POST", f"/{native}/{edge}", json={"message": text})
        return _posted(response, platform, "id")
    if platform == "x":
        if request.private:
            path = f"/2/dm_conversations/with/{request.author_id}/messages"
            response = await client.request("POST", path, json={"text": text})
            return _posted(response, platform, "dm_event_id", inside="data")
        tweet: dict[str, Any] = {"text": text, "reply": {"in_reply_to_tweet_id": native}}
        response = await client.request("POST", "/2/tweets", json=tweet)
        return _posted(response, platform, "id", inside="data")
    if platform == "mastodon":
        status = f"@{request.author_handle} {text}" if request.private else text
        body = {
            "status": status,
            "in_reply_to_id": native,
            "visibility": "direct" if request.private else "public",
        }
        response = await client.request(
            "POST", "/api/v1/statuses", json=body, headers={"Idempotency-Key": request.id}
        )
        return _posted(response, platform, "id")
    raise Refused(f"replies cannot be sent on {platform[:40]}")


def _posted(response: httpx.Response, platform: str, field: str, inside: str = "") -> Posted:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    if inside and isinstance(body, dict):
        body = body.get(inside)
    value = body.get(field) if isinstance(body, dict) else None
    if isinstance(value, str | int) and str(value):
        return Posted(str(value)[:200])
    raise Refused(f"{platform} did not confirm the reply (HTTP {response.status_code})")


def why(exc: Exception, platform: str) -> str:
    """The failure as the officer reads it (platform and status, never the post)."""
    if isinstance(exc, PlatformUnavailable):
        return (
            f"{platform} did not answer (timeout or server error); not tried again so that it "
            "is not posted twice: check the platform, then send again if need be"
        )
    if not isinstance(exc, PlatformRefused):
        return str(exc)
    body = exc.body
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    detail = f", Graph error {code}" if isinstance(code, int) else ""
    return f"{platform} refused the reply with HTTP {exc.status}{detail}"
