"""The DeadLetter: a record no agent could read, kept with where it came from."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Literal

from pydantic import Field

from records.base import Record, UtcDatetime

ERROR_CHARS = 2000


class DeadLetter(Record):
    """The original bytes (base64), the error, and the source topic, partition and offset.

    Operators replay a dead letter by decoding ``value_b64`` and producing it again once
    the cause is fixed; nothing in this record is parsed from the original message.
    """

    schema_version: Literal[1] = Field(default=1, alias="schema")
    error: str = Field(max_length=ERROR_CHARS)
    agent: str = Field(description="the part that refused the record, e.g. 'triage'")
    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key_b64: str | None = None
    value_b64: str | None = None
    failed_at: UtcDatetime

    @classmethod
    def of(
        cls,
        *,
        agent: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        error: str,
        at: datetime,
    ) -> DeadLetter:
        """The dead letter for the message at ``topic``/``partition``/``offset``, its error
        cut to the field's length so that a long reason never loses the record."""
        return cls(
            error=error[:ERROR_CHARS],
            agent=agent,
            topic=topic,
            partition=partition,
            offset=offset,
            key_b64=cls.b64(key),
            value_b64=cls.b64(value),
            failed_at=at,
        )

    @staticmethod
    def b64(data: bytes | None) -> str | None:
        return None if data is None else base64.b64encode(data).decode("ascii")

    @property
    def original_key(self) -> bytes | None:
        return None if self.key_b64 is None else base64.b64decode(self.key_b64)

    @property
    def original_value(self) -> bytes | None:
        return None if self.value_b64 is None else base64.b64decode(self.value_b64)
