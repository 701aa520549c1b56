"""Bytes to records and back, with one error type for everything a dead letter needs.

Anything on a topic may be hostile: any Kafka client can write 20,000 nested brackets, a
number of 5,000 digits, ``NaN``, a lone surrogate or a field of the wrong type. So
:func:`decode` parses with pydantic-core's JSON parser (bounded nesting, bounded numbers,
no NaN or Infinity, surrogates checked) and turns every failure, whatever raised it, into
:class:`InvalidRecord`: an agent that catches that one type can never be stopped by a
record.
"""

from __future__ import annotations

import functools
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

__all__ = ["InvalidRecord", "decode", "encode"]

M = TypeVar("M", bound=BaseModel)


class InvalidRecord(ValueError):
    """The bytes are not a valid record; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode(data: bytes | None, record_type: type[M]) -> M:
    """The record in ``data``, or :class:`InvalidRecord` (never another exception).

    A type with a ``schema`` version field (every :class:`records.base.Record`) must carry
    version 1; other models (internal state on the worker's own topics) have none.
    """
    try:
        return _decode(data, record_type)
    except InvalidRecord:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a hostile record broke: refuse it
        raise InvalidRecord(f"unreadable {record_type.__name__}: {type(exc).__name__}") from None


def _decode(data: Any, record_type: type[M]) -> M:
    if data is None:
        raise InvalidRecord("empty message (no value)")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidRecord(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        raw = from_json(data, allow_inf_nan=False)
    except ValueError as exc:
        # pydantic-core says what and where (line, column), never the text itself.
        raise InvalidRecord(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidRecord(f"expected a JSON object, got {_json_type(raw)}")
    if "schema_version" in record_type.model_fields:
        version = raw.get("schema")
        # type() rather than ==: true and 1.0 equal 1 in Python but are not version 1.
        if type(version) is not int or version != 1:
            small = type(version) is int and abs(version) < 10**6
            shown = version if small else _json_type(version)
            raise InvalidRecord(f"unknown schema version {shown!r} for {record_type.__name__}")
    try:
        return record_type.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRecord(_summarise(exc, record_type)) from None


def encode(record: BaseModel) -> bytes:
    return record.model_dump_json(by_alias=True).encode("utf-8")


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _summarise(exc: ValidationError, record_type: type[BaseModel]) -> str:
    # Field locations and messages only: the input values may hold personal data. A
    # location can hold a key of the input (a dict field's key), so only the model's own
    # field names and list indexes are shown.
    known = _field_names(record_type)
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False)[:5]:
        loc = [p if isinstance(p, int) or p in known else "*" for p in error["loc"]]
        where = ".".join(str(p) for p in loc) or "(record)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    suffix = f" (+{more} more)" if more > 0 else ""
    return "invalid record: " + "; ".join(parts) + suffix


@functools.cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    """The field names and aliases of ``model`` and of every model nested in it."""
    names: set[str] = set()
    seen: set[type[BaseModel]] = set()

    def walk(m: type[BaseModel]) -> None:
        if m in seen:
            return
        seen.add(m)
        for name, field in m.model_fields.items():
            names.add(name)
            if field.alias:
                names.add(field.alias)
            for inner in _models_in(field.annotation):
                walk(inner)

    walk(model)
    return frozenset(names)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
