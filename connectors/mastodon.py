"""Mastodon: mention notifications, and the account's own replies as the council's replies.

Both are read forward with ``min_id`` (the page just after the newest id already written).
A status with ``visibility: direct`` is a direct message. Mastodon has no thread id, so each
status's thread is remembered in the state file and a reply takes its parent's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import structlog
from pydantic import ValidationError

from connectors.http import PlatformClient
from connectors.polling import Batch, PollingConnector, id_order
from connectors.sink import Outgoing
from records import Author, Comment, Media

log = structlog.get_logger(__name__)

PAGE_SIZE = 40  # Mastodon's maximum for both endpoints
MAX_PAGES = 25
_MEDIA_TYPES = {"image": "image", "gifv": "video", "video": "video", "audio": "audio"}


class MastodonConnector(PollingConnector):
    name = "mastodon"

    def make_client(self) -> PlatformClient:
        self.settings.require("mastodon_base_url", "mastodon_token", "mastodon_account_id")
        assert self.settings.mastodon_token is not None
        return self.platform_client(self.settings.mastodon_base_url, self.settings.mastodon_token)

    async def fetch(self) -> Batch:
        account = self.settings.mastodon_account_id
        received = datetime.fromtimestamp(self.now(), UTC)
        batch = Batch()
        statuses: dict[str, dict[str, Any]] = {}

        notes, newest = await self._forward(
            "/api/v1/notifications", {"types[]": "mention"}, self.state.cursor("notifications")
        )
        if newest:
            batch.cursors["notifications"] = newest
        for note in notes:
            status = note.get("status")
            if note.get("type") == "mention" and isinstance(status, dict) and _is_status(status):
                statuses[status["id"]] = status
            else:
                self.metrics.event("ignored")

        own, newest = await self._forward(
            f"/api/v1/accounts/{account}/statuses",
            {"exclude_reblogs": "true"},
            self.state.cursor("own"),
        )
        if newest:
            batch.cursors["own"] = newest
        for status in own:
            if _is_status(status) and status.get("in_reply_to_id"):
                statuses[status["id"]] = status
            else:
                self.metrics.event("ignored")

        for status in sorted(statuses.values(), key=lambda s: id_order(s["id"])):
            parent = status.get("in_reply_to_id")
            thread = (
                (batch.threads.get(str(parent)) or self.state.lookup("threads", str(parent)))
                if parent
                else None
            ) or str(parent or status["id"])
            try:
                comment = status_to_comment(status, account, thread, received)
            except (ValidationError, TypeError, ValueError, AttributeError):
                self.metrics.rejected("malformed")
                log.warning("skipping a malformed status", status_id=status["id"][:40])
                continue
            batch.threads[comment.id] = thread
            batch.items.append(Outgoing(comment, comment.comment_key))
        return batch

    async def _forward(
        self, path: str, params: dict[str, Any], min_id: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Pages after ``min_id``, oldest page first; the newest id seen."""
        found: list[dict[str, Any]] = []
        newest = min_id
        for _page in range(MAX_PAGES):
            query = {**params, "limit": PAGE_SIZE}
            if newest is not None:
                query["min_id"] = newest
            body = await self.client.get_json(path, query)
            page = (
                [
                    item
                    for item in body
                    if isinstance(item, dict) and isinstance(item.get("id"), str)
                ]
                if isinstance(body, list)
                else []
            )
            if not page:
                break
            found.extend(page)
            newest = max((item["id"] for item in page), key=id_order)
            # First start: take the latest page only (no backfill of old history).
            if min_id is None or len(page) < PAGE_SIZE:
                break
        return found, newest


def _is_status(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and isinstance(value.get("account"), dict)
    )


def status_to_comment(
    status: dict[str, Any], council_account_id: str, thread_id: str, received: datetime
) -> Comment:
    account = status["account"]
    is_council = str(account.get("id")) == council_account_id
    parent = status.get("in_reply_to_id")
    if status.get("visibility") == "direct":
        kind = "direct_message"
    elif parent:
        kind = "reply"
    else:
        kind = "mention"
    media = tuple(
        Media(type=_MEDIA_TYPES.get(str(m.get("type")), "other"), url=str(m["url"]))
        for m in status.get("media_attachments") or []
        if isinstance(m, dict) and m.get("url")
    )
    return Comment(
        id=status["id"],
        platform="mastodon",
        channel=council_account_id,
        kind=kind,
        thread_id=thread_id,
        in_reply_to=str(parent) if parent else None,
        author=Author(
            id=str(account.get("id")),
            handle=account.get("acct"),
            name=account.get("display_name") or None,
            is_council=is_council,
        ),
        text=html_to_text(str(status.get("content") or "")),
        created_at=status.get("created_at") or received,
        received_at=received,
        url=status.get("url") or status.get("uri"),
        media=media,
        lang=status.get("language"),
    )


class _TextOnly(HTMLParser):
    """Status HTML to plain text: paragraphs and line breaks become newlines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    parser = _TextOnly()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts).strip()
