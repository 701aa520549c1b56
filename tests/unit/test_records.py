"""Records decode from plain JSON, validate on read and explain what is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from records import Comment, InvalidRecord, decode, encode

VALID = {
    "schema": 1,
    "id": "1234_5678",
    "platform": "facebook",
    "channel": "northherts",
    "kind": "comment",
    "thread_id": "1234",
    "in_reply_to": "1234",
    "author": {"id": "99", "handle": "jsmith", "name": "Jo Smith", "is_council": False},
    "text": "Our bin wasn't collected",
    "created_at": "2026-11-23T10:00:00Z",
    "received_at": "2026-11-23T10:00:02Z",
    "url": None,
    "media": [],
    "lang": "en",
}


def _bytes(value: object) -> bytes:
    return json.dumps(value).encode()


def test_the_documented_example_is_a_valid_comment():
    """The example Comment from the issue decodes, with its conversation and author keys."""
    comment = decode(_bytes(VALID), Comment)
    assert comment.conversation_key == "facebook:1234"
    assert comment.author_key == "facebook:99"
    assert comment.created_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_round_trip_keeps_the_wire_format():
    """Encoding a decoded Comment gives back the same JSON, schema field included."""
    comment = decode(_bytes(VALID), Comment)
    assert json.loads(encode(comment)) == {**VALID, "connector": None}


def test_the_connector_is_optional_and_kept():
    """A record from before the connector field reads as None; a stamped one keeps it."""
    assert decode(_bytes(VALID), Comment).connector is None
    stamped = decode(_bytes({**VALID, "connector": "meta"}), Comment)
    assert stamped.connector == "meta"
    assert json.loads(encode(stamped))["connector"] == "meta"
    with pytest.raises(InvalidRecord, match="connector"):
        decode(_bytes({**VALID, "connector": "Meta Connector"}), Comment)


def test_offsets_are_normalised_to_utc():
    """A timestamp with a UTC offset is read as the same instant in UTC."""
    comment = decode(_bytes({**VALID, "created_at": "2026-06-01T10:00:00+01:00"}), Comment)
    assert comment.created_at == datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe{", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (_bytes({**VALID, "schema": 2}), "unknown schema version"),
        (_bytes({k: v for k, v in VALID.items() if k != "thread_id"}), "thread_id"),
        (_bytes({**VALID, "kind": "tweet"}), "kind"),
        (_bytes({**VALID, "text": "x" * 10_001}), "text"),
        (_bytes({**VALID, "created_at": "2026-11-23T10:00:00"}), "created_at"),
        (None, "empty"),
    ],
)
def test_invalid_input_raises_with_a_reason(data: bytes | None, reason: str):
    """Each kind of bad input is refused with a reason that says what is wrong."""
    with pytest.raises(InvalidRecord, match=reason):
        decode(data, Comment)


def test_reasons_never_quote_the_input_values():
    """A validation reason names fields, not their (possibly personal) contents."""
    secret = "call me on 07700 900123"
    with pytest.raises(InvalidRecord) as info:
        decode(_bytes({**VALID, "kind": secret}), Comment)
    assert secret not in info.value.reason
