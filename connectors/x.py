"""X (API v2): the account's mentions, and its own replies as the council's replies.

Both timelines are read with ``since_id`` (the newest id already written), paged with
``pagination_token``, and expanded with ``author_id`` so that usernames and display names
come in the same response.

X lists newest first, so a poll that stops at MAX_PAGES with a ``next_token`` left has read
the top of the backlog but not its bottom. The cursor then stays put, and the poll stores
where its walk down stopped (``<timeline>.until``, the oldest id read, and
``<timeline>.top``, the newest): the next poll goes on below that with ``until_id``
(exclusive, like ``since_id``), and only a walk that reaches ``since_id`` moves the cursor,
to the newest id of the walk. Posts newer than the walk wait until it is done.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError

from connectors.http import PlatformClient
from connectors.polling import Batch, PollingConnector, id_order
from connectors.sink import Outgoing
from records import Author, Comment

log = structlog.get_logger(__name__)

TWEET_FIELDS = "created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets,lang"
USER_FIELDS = "username,name"
PAGE_SIZE = 100
MAX_PAGES = 20  # 2,000 posts per poll at most; the rest comes on the next poll

Found = list[tuple[dict[str, Any], dict[str, dict[str, Any]]]]


class XConnector(PollingConnector):
    name = "x"

    def make_client(self) -> PlatformClient:
        self.settings.require("x_bearer_token", "x_user_id")
        assert self.settings.x_bearer_token is not None
        return self.platform_client(self.settings.x_api_base, self.settings.x_bearer_token)

    async def fetch(self) -> Batch:
        user = self.settings.x_user_id
        received = datetime.fromtimestamp(self.now(), UTC)
        batch = Batch()
        tweets: dict[str, Comment] = {}
        for timeline, path in (
            ("mentions", f"/2/users/{user}/mentions"),
            ("own", f"/2/users/{user}/tweets"),
        ):
            found, walk = await self._walk(timeline, path)
            batch.cursors.update(walk)
            for tweet, users in found:
                try:
                    comment = tweet_to_comment(tweet, users, user, received)
                except (ValidationError, TypeError, ValueError, AttributeError):
                    self.metrics.rejected("malformed")
                    log.warning("skipping a malformed post", post_id=tweet["id"][:40])
                    continue
                if comment is None:
                    self.metrics.event("ignored")
                    continue
                tweets[comment.id] = comment
        for comment in sorted(tweets.values(), key=lambda c: id_order(c.id)):
            batch.items.append(Outgoing(comment, comment.comment_key))
        return batch

    async def _walk(self, timeline: str, path: str) -> tuple[Found, dict[str, str | None]]:
        """One poll's part of a walk down the timeline, and the cursors to store after it."""
        since = self.state.cursor(timeline)
        until = self.state.cursor(f"{timeline}.until")
        top = self.state.cursor(f"{timeline}.top")
        found, finished = await self._timeline(path, since, until)
        ids = sorted((tweet["id"] for tweet, _ in found), key=id_order)
        if ids and until is None:
            top = ids[-1]  # a new walk starts at the newest post
        if finished or since is None:  # the first start reads one page: no backfill
            done = top or since
            cursors: dict[str, str | None] = {f"{timeline}.until": None, f"{timeline}.top": None}
            if done is not None:
                cursors[timeline] = done
            return found, cursors
        # Stopped at MAX_PAGES: the next poll goes on below the oldest post read.
        return found, {f"{timeline}.until": ids[0] if ids else until, f"{timeline}.top": top}

    async def _timeline(
        self, path: str, since_id: str | None, until_id: str | None
    ) -> tuple[Found, bool]:
        """Up to MAX_PAGES pages newest first; True when the last page had no next_token."""
        params: dict[str, Any] = {
            "max_results": PAGE_SIZE,
            "expansions": "author_id",
            "tweet.fields": TWEET_FIELDS,
            "user.fields": USER_FIELDS,
        }
        if since_id is not None:
            params["since_id"] = since_id
        if until_id is not None:
            params["until_id"] = until_id
        out: Found = []
        for _page in range(MAX_PAGES):
            body = await self.client.get_json(path, params)
            if not isinstance(body, dict):
                return out, True
            includes = body.get("includes")
            listed = includes.get("users") if isinstance(includes, dict) else None
            users = {
                str(u["id"]): u
                for u in (listed if isinstance(listed, list) else [])
                if isinstance(u, dict) and isinstance(u.get("id"), str)
            }
            data = body.get("data")
            out.extend((t, users) for t in (data if isinstance(data, list) else []) if _is_tweet(t))
            meta = body.get("meta")
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not token or since_id is None:
                return out, True
            params["pagination_token"] = token
        return out, False


def _is_tweet(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("id"), str) and "text" in value


def tweet_to_comment(
    tweet: dict[str, Any],
    users: dict[str, dict[str, Any]],
    council_user_id: str,
    received: datetime,
) -> Comment | None:
    """A post from either timeline as a Comment; None for the council's non-replies."""
    author_id = str(tweet.get("author_id") or "unknown")
    is_council = author_id == council_user_id
    replied_to = next(
        (
            str(ref["id"])
            for ref in tweet.get("referenced_tweets") or []
            if isinstance(ref, dict) and ref.get("type") == "replied_to" and "id" in ref
        ),
        None,
    )
    if is_council and replied_to is None:
        return None  # the council's own announcements are not replies to anyone
    user = users.get(author_id, {})
    username = user.get("username")
    created = tweet.get("created_at")
    return Comment(
        id=tweet["id"],
        platform="x",
        channel=council_user_id,
        kind="reply" if replied_to else "mention",
        thread_id=str(tweet.get("conversation_id") or tweet["id"]),
        in_reply_to=replied_to,
        author=Author(id=author_id, handle=username, name=user.get("name"), is_council=is_council),
        text=str(tweet.get("text", "")),
        created_at=created if created else received,
        received_at=received,
        url=f"https://x.com/{username or 'i'}/status/{tweet['id']}",
        lang=tweet.get("lang"),
    )
