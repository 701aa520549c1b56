"""Local fakes of the platforms' reply endpoints, on 127.0.0.1, taking the requests their
references document and refusing missing or unknown fields.

Where a platform quietly ignores a field it does not know (Graph, Mastodon), the fake
refuses it anyway, so that a misspelt field fails the test instead of being lost on the
real service; X refuses unknown fields itself.

- Graph, comment replies: ``POST /{comment-id}/comments`` with ``message``
  (https://developers.facebook.com/docs/graph-api/reference/v6.0/object/comments);
- Graph, Instagram comment replies: ``POST /{ig-comment-id}/replies`` with ``message``
  (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment/replies);
- Graph, private replies: ``POST /{page-id}/messages`` with ``recipient.comment_id`` and
  ``message`` (https://developers.facebook.com/docs/messenger-platform/discovery/private-replies,
  and for Instagram https://developers.facebook.com/docs/instagram-platform/private-replies);
- X: ``POST /2/tweets`` with ``text`` and ``reply.in_reply_to_tweet_id``
  (https://docs.x.com/x-api/posts/creation-of-a-post), and
  ``POST /2/dm_conversations/with/:participant_id/messages`` with ``text``
  (https://developer.x.com/en/docs/x-api/direct-messages/manage/api-reference/post-dm_conversations-with-participant_id-messages);
- Mastodon: ``POST /api/v1/statuses`` with ``status``, ``in_reply_to_id``, ``visibility``
  and the ``Idempotency-Key`` header (https://docs.joinmastodon.org/methods/statuses/#create).
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

GRAPH_VERSION = "/v25.0"

# One request as a fake received it: method, path, JSON body, Authorization header.
Seen = tuple[str, str, Any, str | None]

_X_TWEET_FIELDS = {
    "card_uri",
    "community_id",
    "direct_message_deep_link",
    "edit_options",
    "for_super_followers_only",
    "geo",
    "media",
    "nullcast",
    "poll",
    "quote_tweet_id",
    "reply",
    "reply_settings",
    "share_with_followers",
    "text",
}
_X_REPLY_FIELDS = {"in_reply_to_tweet_id", "auto_populate_reply_metadata", "exclude_reply_user_ids"}
_MASTODON_FIELDS = {
    "status",
    "media_ids",
    "poll",
    "in_reply_to_id",
    "sensitive",
    "spoiler_text",
    "visibility",
    "language",
    "scheduled_at",
}


def _graph_error(message: str, code: int = 100) -> web.Response:
    error = {"message": message, "type": "OAuthException", "code": code}
    return web.json_response({"error": error}, status=400)


def _x_invalid(message: str) -> web.Response:
    return web.json_response(
        {
            "errors": [{"message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
        status=400,
    )


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


class FakeGraphReplies:
    """Facebook and Instagram comment replies and private replies, on one Graph server."""

    def __init__(self, token: str, page_id: str, ig_user_id: str) -> None:
        self.token = token
        self.own = {page_id, ig_user_id}
        self.requests: list[Seen] = []
        self.gone: set[str] = set()
        self._ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(GRAPH_VERSION + "/{id}/comments", self._reply)
        app.router.add_post(GRAPH_VERSION + "/{id}/replies", self._reply)
        app.router.add_post(GRAPH_VERSION + "/{id}/messages", self._message)
        return app

    async def _seen(self, request: web.Request) -> tuple[Any, web.Response | None]:
        body = await _json(request)
        auth = request.headers.get("Authorization")
        self.requests.append((request.method, request.path, body, auth))
        if auth != f"Bearer {self.token}":
            return body, _graph_error("Invalid OAuth access token", 190)
        if not isinstance(body, dict):
            return body, _graph_error("(#100) The request body must be JSON")
        return body, None

    async def _reply(self, request: web.Request) -> web.Response:
        body, refused = await self._seen(request)
        if refused is not None:
            return refused
        if request.match_info["id"] in self.gone:
            return _graph_error("Unsupported post request: the object does not exist")
        unknown = sorted(set(body) - {"message", "attachment_url", "attachment_id"})
        if unknown:
            return _graph_error(f"(#100) Param {unknown[0]} is not a valid parameter")
        if not isinstance(body.get("message"), str) or not body["message"]:
            return _graph_error("(#100) The parameter message is required")
        return web.json_response({"id": f"{request.match_info['id']}_{next(self._ids)}"})

    async def _message(self, request: web.Request) -> web.Response:
        body, refused = await self._seen(request)
        if refused is not None:
            return refused
        if request.match_info["id"] not in self.own:
            return _graph_error("(#100) Messages are sent from the Page's own id")
        unknown = sorted(set(body) - {"recipient", "message", "messaging_type"})
        if unknown:
            return _graph_error(f"(#100) Param {unknown[0]} is not a valid parameter")
        recipient, message = body.get("recipient"), body.get("message")
        if not isinstance(recipient, dict) or set(recipient) != {"comment_id"}:
            return _graph_error("(#100) The parameter recipient is required")
        if recipient["comment_id"] in self.gone:
            return _graph_error("(#100) No matching comment", 100)
        if not isinstance(message, dict) or set(message) != {"text"} or not message["text"]:
            return _graph_error("(#100) The parameter message is required")
        number = next(self._ids)
        return web.json_response({"recipient_id": f"psid-{number}", "message_id": f"m_{number}"})


class FakeXReplies:
    """X API v2 posts and one-to-one direct messages; ``outage`` answers 503 for a tweet id."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[Seen] = []
        self.outage: set[str] = set()
        self._ids = itertools.count(1_860_000_000_000_000_001)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2/tweets", self._tweet)
        app.router.add_post("/2/dm_conversations/with/{participant}/messages", self._dm)
        return app

    async def _seen(self, request: web.Request) -> tuple[Any, web.Response | None]:
        body = await _json(request)
        auth = request.headers.get("Authorization")
        self.requests.append((request.method, request.path, body, auth))
        if auth != f"Bearer {self.token}":
            return body, web.json_response({"title": "Unauthorized", "status": 401}, status=401)
        if not isinstance(body, dict):
            return body, _x_invalid("the body must be a JSON object")
        return body, None

    async def _tweet(self, request: web.Request) -> web.Response:
        body, refused = await self._seen(request)
        if refused is not None:
            return refused
        unknown = sorted(set(body) - _X_TWEET_FIELDS)
        if unknown:
            return _x_invalid(f"$.{unknown[0]}: is not defined in the schema")
        reply = body.get("reply")
        if reply is not None:
            if not isinstance(reply, dict) or "in_reply_to_tweet_id" not in reply:
                return _x_invalid("$.reply.in_reply_to_tweet_id: is missing but it is required")
            extra = sorted(set(reply) - _X_REPLY_FIELDS)
            if extra:
                return _x_invalid(f"$.reply.{extra[0]}: is not defined in the schema")
            if reply["in_reply_to_tweet_id"] in self.outage:
                return web.json_response({"title": "Service Unavailable"}, status=503)
        if not isinstance(body.get("text"), str) or not body["text"]:
            return _x_invalid("$.text: is missing but it is required")
        data = {"id": str(next(self._ids)), "text": body["text"]}
        return web.json_response({"data": data}, status=201)

    async def _dm(self, request: web.Request) -> web.Response:
        body, refused = await self._seen(request)
        if refused is not None:
            return refused
        unknown = sorted(set(body) - {"text", "attachments"})
        if unknown:
            return _x_invalid(f"$.{unknown[0]}: is not defined in the schema")
        if not isinstance(body.get("text"), str) or not body["text"]:
            return _x_invalid("$.text: is missing but it is required")
        number = next(self._ids)
        data = {"dm_conversation_id": f"c-{number}", "dm_event_id": str(number)}
        return web.json_response({"data": data}, status=201)


class FakeMastodonReplies:
    """Mastodon's status creation, keeping each Idempotency-Key's status as Mastodon does."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[tuple[str, str, Any, str | None, str | None]] = []
        self.by_key: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(113_500_000_000_000_001)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/statuses", self._status)
        return app

    async def _status(self, request: web.Request) -> web.Response:
        body = await _json(request)
        auth = request.headers.get("Authorization")
        key = request.headers.get("Idempotency-Key")
        self.requests.append((request.method, request.path, body, auth, key))
        if auth != f"Bearer {self.token}":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        if not isinstance(body, dict):
            return web.json_response({"error": "the body must be JSON"}, status=422)
        unknown = sorted(set(body) - _MASTODON_FIELDS)
        if unknown:
            return web.json_response({"error": f"unknown parameter {unknown[0]}"}, status=422)
        if not isinstance(body.get("status"), str) or not body["status"].strip():
            return web.json_response({"error": "Validation failed: Text can't be blank"}, 422)
        if body.get("visibility", "public") not in ("public", "unlisted", "private", "direct"):
            return web.json_response({"error": "Validation failed: Visibility"}, status=422)
        if key is not None and key in self.by_key:
            return web.json_response(self.by_key[key])
        status = {
            "id": str(next(self._ids)),
            "content": body["status"],
            "in_reply_to_id": body.get("in_reply_to_id"),
            "visibility": body.get("visibility", "public"),
        }
        if key is not None:
            self.by_key[key] = status
        return web.json_response(status)
