"""The reply desk: checks a reply an officer sends, writes it to ``triage.reply-requests``,
and keeps every reply's latest request and outcome in memory for the pages and the API.

It is fed by a :class:`~worker.follow.TopicFollower` on both reply topics (every worker
sees every reply), and it applies its own writes at once so that a retried request sees
the first one. Sending happens elsewhere (``triage connect actions``, which writes the
outcomes); the desk never talks to a platform.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

import structlog

from records import ReviewItem, decode
from records.reply import (
    APPROVAL_NEEDED,
    KEY_PATTERN,
    PRIVATE_TEMPLATES,
    TEMPLATES,
    ReplyOutcome,
    ReplyRequest,
    ReplyTemplate,
    reply_id,
)
from worker.replies.limits import too_long
from worker.users import User

__all__ = [
    "REPLY_PLATFORMS",
    "Entry",
    "ReplyDesk",
    "ReplyRefused",
    "ReplySink",
    "Sent",
    "TemplateText",
    "new_form_key",
]

log = structlog.get_logger(__name__)

# The platforms `triage connect actions` can answer on.
REPLY_PLATFORMS = ("facebook", "instagram", "x", "mastodon")

ReplySink = Callable[[ReplyRequest], Awaitable[None]]
# The text of a saved reply for one item (the policy's wording, filled in).
TemplateText = Callable[[ReplyTemplate, ReviewItem], str]
State = Literal["awaiting_approval", "queued", "sending", "sent", "failed"]

STATE_TEXT: dict[State, str] = {
    "awaiting_approval": "Waiting for a manager's approval",
    "queued": "Waiting to be sent",
    "sending": "Being sent",
    "sent": "Sent",
    "failed": "Not sent",
}


class ReplyRefused(Exception):
    """A reply that cannot be taken: an HTTP status and a message for the officer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Entry:
    """One reply as the tool knows it: the latest request, and its outcome if any."""

    request: ReplyRequest
    outcome: ReplyOutcome | None = None

    @property
    def state(self) -> State:
        if self.outcome is not None:
            return self.outcome.status
        return "queued" if self.request.ready else "awaiting_approval"

    @property
    def state_text(self) -> str:
        return STATE_TEXT[self.state]

    def to_json_dict(self) -> dict[str, object]:
        out = self.request.to_json_dict()
        out["state"] = self.state
        if self.outcome is not None:
            out["outcome"] = self.outcome.to_json_dict()
        return out


@dataclass(frozen=True, slots=True)
class Sent:
    entry: Entry
    # True when this reply id had been asked for already: nothing more was written.
    repeat: bool


def new_form_key() -> str:
    """A fresh key for one rendering of the reply form (one click, one reply)."""
    return secrets.token_urlsafe(18)


def _same(one: ReplyRequest, other: ReplyRequest) -> bool:
    fields = ("item_id", "text", "template", "private", "requested_by")
    return all(getattr(one, f) == getattr(other, f) for f in fields)


class ReplyDesk:
    def __init__(
        self,
        *,
        enabled: bool,
        sink: ReplySink | None,
        texts: TemplateText,
        now: Callable[[], datetime],
        mastodon_max: int = 500,
    ) -> None:
        self.enabled = enabled
        # The council's Mastodon server's limit (worker/replies/limits.py).
        self.mastodon_max = mastodon_max
        self.sink = sink
        self.texts = texts
        self.now = now
        self._requests: dict[str, ReplyRequest] = {}
        self._outcomes: dict[str, ReplyOutcome] = {}
        self._by_item: dict[str, list[str]] = {}
        # One reply at a time per worker, so that a double click cannot pass the checks twice.
        self._lock = asyncio.Lock()

    # Reading the topics.
    def fold_request(self, value: bytes | None) -> None:
        if value is None:
            return
        self.apply(decode(value, ReplyRequest))

    def fold_outcome(self, value: bytes | None) -> None:
        if value is None:
            return
        outcome = decode(value, ReplyOutcome)
        old = self._outcomes.get(outcome.reply_id)
        # "sending" never replaces a final outcome (a replayed record read late).
        if old is not None and old.status != "sending" and outcome.status == "sending":
            return
        self._outcomes[outcome.reply_id] = outcome

    def apply(self, request: ReplyRequest) -> None:
        old = self._requests.get(request.id)
        if old is not None and old.approved_by is not None and request.approved_by is None:
            return  # an approval is never undone by a copy of the request read late
        self._requests[request.id] = request
        ids = self._by_item.setdefault(request.item_id, [])
        if request.id not in ids:
            ids.append(request.id)

    def get(self, reply_id_: str) -> Entry | None:
        request = self._requests.get(reply_id_)
        if request is None:
            return None
        return Entry(request, self._outcomes.get(reply_id_))

    def for_item(self, item_id: str) -> list[Entry]:
        """The item's replies, newest first."""
        entries = [self.get(i) for i in self._by_item.get(item_id, ())]
        found = [e for e in entries if e is not None]
        return sorted(found, key=lambda e: e.request.requested_at, reverse=True)

    # Writing.
    async def send(
        self,
        item: ReviewItem | None,
        user: User,
        *,
        key: str,
        text: str | None = None,
        template: str | None = None,
        private: bool = False,
    ) -> Sent:
        """Check and write one reply; raises :class:`ReplyRefused`."""
        if not self.enabled:
            raise ReplyRefused(
                403,
                "replying from the tool is off: the policy's replying.enabled "
                "(or TRIAGE_REPLIES_ENABLED) turns it on",
            )
        if self.sink is None:
            raise ReplyRefused(503, "replying is not running in this worker")
        if not KEY_PATTERN.match(key):
            raise ReplyRefused(422, "the reply key is 1-100 letters, digits or . _ : - characters")
        if item is None:
            raise ReplyRefused(404, "no such review item")
        body, chosen = self._text(item, text, template)
        comment = item.comment
        if comment.platform not in REPLY_PLATFORMS:
            raise ReplyRefused(
                422, f"replies cannot be sent on {comment.platform} from the tool; reply there"
            )
        private = private or chosen in PRIVATE_TEMPLATES
        counted = body
        if comment.platform == "mastodon" and private and comment.author.handle:
            # A direct status starts with the mention; Mastodon counts its user part only.
            counted = f"@{comment.author.handle.lstrip('@').split('@')[0]} {body}"
        over = too_long(comment.platform, counted, private=private, mastodon_max=self.mastodon_max)
        if over is not None:
            raise ReplyRefused(422, over)
        needs = chosen in APPROVAL_NEEDED
        manager = user.at_least("manager")
        now = self.now()
        request = ReplyRequest(
            id=reply_id(user.name, key),
            item_id=item.id,
            comment_key=comment.comment_key,
            platform=comment.platform,
            channel=comment.channel,
            thread_id=comment.thread_id,
            connector=comment.connector,
            author_id=comment.author.id,
            author_handle=comment.author.handle,
            text=body,
            template=chosen,
            private=private,
            requested_by=user.name,
            requested_at=now,
            needs_approval=needs,
            # A manager's own warning is approved by sending it; the approval is recorded.
            approved_by=user.name if needs and manager else None,
            approved_at=now if needs and manager else None,
        )
        async with self._lock:
            old = self._requests.get(request.id)
            if old is not None:
                if not _same(old, request):
                    raise ReplyRefused(409, "this reply key was used for a different reply")
                found = self.get(old.id)
                assert found is not None
                return Sent(found, True)
            await self.sink(request)
            self.apply(request)
        log.info("reply requested", reply_id=request.id, item_id=item.id, by=user.name)
        entry = self.get(request.id)
        assert entry is not None
        return Sent(entry, False)

    async def approve(self, reply_id_: str, user: User) -> Entry:
        """A manager's approval of a reply that needs one; raises :class:`ReplyRefused`."""
        if not user.at_least("manager"):
            raise ReplyRefused(403, "only a manager can approve a written warning")
        if self.sink is None:
            raise ReplyRefused(503, "replying is not running in this worker")
        async with self._lock:
            request = self._requests.get(reply_id_)
            if request is None:
                raise ReplyRefused(404, "no such reply")
            if request.approved_by is not None or not request.needs_approval:
                found = self.get(reply_id_)
                assert found is not None
                return found  # approved already (or never needed it): nothing to do
            approved = request.model_copy(
                update={"approved_by": user.name, "approved_at": self.now()}
            )
            await self.sink(approved)
            self.apply(approved)
        log.info("reply approved", reply_id=reply_id_, by=user.name)
        entry = self.get(reply_id_)
        assert entry is not None
        return entry

    def _text(
        self, item: ReviewItem, text: str | None, template: str | None
    ) -> tuple[str, ReplyTemplate | None]:
        if (text is None) == (template is None):
            raise ReplyRefused(400, "send either 'text' or 'template', not both")
        if template is not None:
            if template not in get_args(ReplyTemplate):
                raise ReplyRefused(422, f"'template' must be one of {list(TEMPLATES)}")
            chosen: ReplyTemplate = template  # type: ignore[assignment]
            return self.texts(chosen, item), chosen
        assert text is not None
        body = text.strip()
        if not body:
            raise ReplyRefused(422, "write the reply, or choose a saved one")
        if len(body) > 10_000:
            raise ReplyRefused(422, "the reply is longer than any platform allows")
        return body, None
