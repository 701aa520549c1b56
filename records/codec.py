"""Bytes to records and back, with one error type for everything a dead letter needs."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import ValidationError

from records.base import Record

R = TypeVar("R", bound=Record)


class InvalidRecord(ValueError):
    """The bytes are not a valid record; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode(data: bytes | None, record_type: type[R]) -> R:
    if data is None:
        raise InvalidRecord("empty message (no value)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise InvalidRecord(f"not JSON: {exc.msg} at {where}") from None
    if not isinstance(raw, dict):
        raise InvalidRecord(f"expected a JSON object, got {type(raw).__name__}")
    version = raw.get("schema")
    if version != 1:
        raise InvalidRecord(f"unknown schema version {version!r} for {record_type.__name__}")
    try:
        return record_type.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRecord(_summarise(exc)) from None


def encode(record: Record) -> bytes:
    return record.model_dump_json(by_alias=True).encode("utf-8")


def _summarise(exc: ValidationError) -> str:
    # Field locations and messages only: the input values may hold personal data.
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "(record)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    suffix = f" (+{more} more)" if more > 0 else ""
    return "invalid record: " + "; ".join(parts) + suffix
