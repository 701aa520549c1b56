"""The Comment: one post, reply or message as it reached the council."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from records.base import Record, UtcDatetime

MAX_TEXT_CHARS = 10_000
"""Longer texts are refused: no platform the council uses allows more."""

CommentKind = Literal["comment", "reply", "direct_message", "mention", "post"]


class Author(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1, max_length=200)
    handle: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=500)
    is_council: bool = False


class Media(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["image", "video", "audio", "link", "other"]
    url: str = Field(max_length=2048)


class Comment(Record):
    """A resident's (or the council's own) post, keyed on the wire by conversation."""

    schema_version: Literal[1] = Field(default=1, alias="schema")
    id: str = Field(min_length=1, max_length=200)
    platform: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_.-]+$")
    channel: str = Field(min_length=1, max_length=200)
    kind: CommentKind
    thread_id: str = Field(min_length=1, max_length=200)
    in_reply_to: str | None = Field(default=None, max_length=200)
    author: Author
    text: str = Field(max_length=MAX_TEXT_CHARS)
    created_at: UtcDatetime
    received_at: UtcDatetime
    url: str | None = Field(default=None, max_length=2048)
    media: tuple[Media, ...] = ()
    lang: str | None = Field(default=None, max_length=20)
    # Which of the project's connectors wrote it (meta, x, mastodon, webhook). Absent on
    # records from before the field and from other producers: nothing is then taken on trust
    # about where the post lives (the actions connector will not touch it).
    connector: str | None = Field(default=None, max_length=40, pattern=r"^[a-z0-9_.-]+$")

    @property
    def conversation_key(self) -> str:
        return f"{self.platform}:{self.thread_id}"

    @property
    def author_key(self) -> str:
        return f"{self.platform}:{self.author.id}"

    @property
    def comment_key(self) -> str:
        return f"{self.platform}:{self.id}"
