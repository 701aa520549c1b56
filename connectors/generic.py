"""A signed generic webhook for other channels (web chat, forms, an integration platform).

``POST /webhooks/generic`` with one comment object, or a list of them, in JSON: the fields
of a Comment less ``schema`` and ``received_at``, which the connector fills in (with
defaults for ``channel``, ``kind``, ``thread_id`` and ``created_at``).

Headers: ``X-Triage-Timestamp`` (Unix seconds) and ``X-Triage-Signature`` =
``sha256=`` + hex HMAC-SHA256 with TRIAGE_WEBHOOK_SECRET over ``"{timestamp}.{body}"``.
A timestamp more than TRIAGE_WEBHOOK_MAX_AGE_S away from now is refused, so a captured
request cannot be replayed later; within the window a repeat is dropped by its id.

The secret proves only that the sender holds it, not where a post lives or who wrote it.
So the records always get platform ``webhook`` (``webhook.<TRIAGE_WEBHOOK_NAME>``) and
``author.is_council = false``, whatever the body says: a sender cannot answer a resident's
Facebook case, put strikes on a Facebook account, or have a Facebook post deleted. A
``created_at`` further ahead than TRIAGE_WEBHOOK_MAX_AGE_S, or older than
TRIAGE_WEBHOOK_MAX_CREATED_AGE_S, is refused: it would move reply deadlines.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from connectors.sink import Outgoing
from connectors.webhook import (
    Refused,
    WebhookConnector,
    hmac_sha256_hex,
    parse_json,
    signature_matches,
)
from records import MAX_TEXT_CHARS, Author, Comment, CommentKind, Media

PATH = "/webhooks/generic"
TIMESTAMP_HEADER = "X-Triage-Timestamp"
SIGNATURE_HEADER = "X-Triage-Signature"
MAX_ITEMS = 500


class IncomingComment(BaseModel):
    """What a sender posts; unknown fields are refused so that typos surface."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    # Accepted so that existing senders keep working, and ignored (see the module's doc).
    platform: str | None = Field(default=None, max_length=40)
    channel: str = Field(default="web", min_length=1, max_length=200)
    kind: CommentKind = "comment"
    thread_id: str | None = Field(default=None, min_length=1, max_length=200)
    in_reply_to: str | None = Field(default=None, max_length=200)
    author: Author
    text: str = Field(max_length=MAX_TEXT_CHARS)
    created_at: AwareDatetime | None = None
    url: str | None = Field(default=None, max_length=2048)
    media: tuple[Media, ...] = ()
    lang: str | None = Field(default=None, max_length=20)

    def to_comment(self, received: datetime, platform: str) -> Comment:
        fields = self.model_dump(exclude={"platform", "author", "thread_id", "created_at"})
        return Comment(
            **fields,
            platform=platform,
            author=self.author.model_copy(update={"is_council": False}),
            thread_id=self.thread_id or self.id,
            created_at=self.created_at or received,
            received_at=received,
        )


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value a sender computes (also used by tests)."""
    return "sha256=" + hmac_sha256_hex(secret, str(timestamp).encode() + b"." + body)


class GenericWebhookConnector(WebhookConnector):
    name = "webhook"

    async def setup(self) -> None:
        self.settings.require("webhook_secret")
        await super().setup()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        try:
            body = await self.read_body(request)
            self._check_signature(request, body)
            received = datetime.fromtimestamp(self.now(), UTC)
            items = [Outgoing(c, c.comment_key) for c in self._comments(body, received)]
        except Refused as refused:
            return self.refuse(refused)
        return await self.accept(items)

    def _check_signature(self, request: web.Request, body: bytes) -> None:
        secret = self.settings.webhook_secret
        assert secret is not None  # setup() requires it
        stamp = request.headers.get(TIMESTAMP_HEADER, "")
        if not stamp.isdigit() or len(stamp) > 12:
            raise Refused(403, "signature", "missing or invalid timestamp")
        signed = stamp.encode() + b"." + body
        header = request.headers.get(SIGNATURE_HEADER)
        if not signature_matches(header, secret.get_secret_value().encode(), signed):
            raise Refused(403, "signature", "missing or invalid signature")
        if abs(self.now() - int(stamp)) > self.settings.webhook_max_age_s:
            raise Refused(403, "stale", "timestamp outside the allowed window")

    @property
    def platform(self) -> str:
        name = self.settings.webhook_name
        return f"webhook.{name}" if name else "webhook"

    def _comments(self, body: bytes, received: datetime) -> list[Comment]:
        raw: Any = parse_json(body)
        batch = raw if isinstance(raw, list) else [raw]
        if not batch or len(batch) > MAX_ITEMS:
            raise Refused(400, "malformed", f"send between 1 and {MAX_ITEMS} comments")
        out = []
        for index, item in enumerate(batch):
            try:
                comment = IncomingComment.model_validate(item).to_comment(received, self.platform)
            except ValidationError as exc:
                # Field locations only: the values may hold personal data.
                first = exc.errors(include_url=False, include_input=False)[0]
                where = ".".join(str(p) for p in first["loc"]) or "(comment)"
                message = f"comment {index}: {where}: {first['msg']}"
                raise Refused(400, "malformed", message) from None
            self._check_created(index, comment)
            out.append(comment)
        return out

    def _check_created(self, index: int, comment: Comment) -> None:
        ahead = (comment.created_at - comment.received_at).total_seconds()
        most_ahead = self.settings.webhook_max_age_s
        oldest = self.settings.webhook_max_created_age_s
        if ahead > most_ahead:
            message = f"more than {most_ahead} s ahead of the connector's clock"
        elif -ahead > oldest:
            message = f"more than {oldest} s in the past"
        else:
            return
        raise Refused(400, "malformed", f"comment {index}: created_at: {message}")
