"""Every decoder the worker, its readers and the connectors use, fed hostile bytes.

Each must return a valid record (one that encodes and decodes back to itself) or raise its
one refusal type (InvalidRecord; Refused or PlatformUnavailable in the connectors), never
anything else: an exception of another type would end the agent or reader that called it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from connectors import GenericWebhookConnector
from connectors.http import PlatformClient, PlatformUnavailable
from connectors.metrics import ConnectorMetrics
from connectors.settings import ConnectorSettings
from connectors.webhook import Refused, parse_json
from records import (
    Comment,
    DeadLetter,
    InvalidRecord,
    Media,
    Reason,
    ReviewItem,
    Signals,
    TriageResult,
    Verdict,
    decode,
    encode,
)
from records.moderation import AuditRecord, Decision, LabelExample
from records.sla import Alert, Case, EmergencyChange
from records.sla_state import SlaMessage, SlaState
from tests.integration.conftest import make_comment
from worker.clock import SystemClock
from worker.moderation.policy import ModerationConfig
from worker.moderation.review_view import ModerationState, TopicReader
from worker.settings import Settings
from worker.sla.cases import event_from_result
from worker.sla.store import PartitionStore
from worker.sla.view import SlaView

AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
# Planted in every sample's strings: a refusal's reason must never repeat it.
MARK = "Zq7secret"


def _samples() -> dict[type[BaseModel], BaseModel]:
    comment = make_comment(1, f"pothole {MARK}").model_copy(
        update={"media": (Media(type="image", url="https://x.test/a.png"),), "lang": "en"}
    )
    verdict = Verdict(
        labels=("service_request",),
        scores={"service_request": 0.9, "abusive": 0.1, "misinformation": 0.0, "spam": 0.0},
        signals=Signals(toxicity={"insult": 0.2}, personal_data=("phone",), links=1),
        reasons=(Reason(code="service_request", clause="c", evidence=MARK),),
        lane="response",
        lanes=("response",),
        model={"name": "m"},
    )
    result = TriageResult(comment=comment, verdict=verdict, classified_at=AT)
    decision = Decision(
        id="d-1",
        item_id="rv-1",
        lane="moderation",
        action="block",
        by="officer",
        role="manager",
        decided_at=AT,
        note=MARK,
        labels=("abusive",),
    )
    return {
        Comment: comment,
        Verdict: verdict,
        TriageResult: result,
        ReviewItem: ReviewItem(
            id="rv-1", lane="response", comment=comment, verdict=verdict, created_at=AT
        ),
        Decision: decision,
        AuditRecord: AuditRecord(
            id="d-1",
            decision_id="d-1",
            item_id="rv-1",
            author_key="facebook:a1",
            platform="facebook",
            author_id="a1",
            channel="nherts",
            comment_key="facebook:c1",
            posted_at=AT,
            text=MARK,
            categories=("abusive",),
            action="block",
            decided_by="officer",
            decided_at=AT,
            appealable_from=date(2027, 11, 24),
        ),
        LabelExample: LabelExample(
            id="d-1",
            comment_key="facebook:c1",
            text=MARK,
            labels=("abusive",),
            source="confirmed",
            decision_id="d-1",
            decided_by="officer",
            decided_at=AT,
        ),
        Case: Case(
            id="case-1",
            conversation_key="facebook:t1",
            number=1,
            platform="facebook",
            channel="nherts",
            status="open",
            opened_by="facebook:c1",
            author_key="facebook:a1",
            item_id="rv-1",
            received_at=AT,
            due_at=AT,
            target_hours=8.0,
            suggested_reply=MARK,
        ),
        Alert: Alert(
            id="a-1",
            kind="sla_breach",
            severity="warning",
            subject="facebook:t1",
            message=MARK,
            created_at=AT,
            data={"hours": 1.5, "case_id": "case-1", "n": 2, "ok": True, "none": None},
        ),
        EmergencyChange: EmergencyChange(id="e-1", active=True, by="ops", reason=MARK, at=AT),
        DeadLetter: DeadLetter(
            error="x", agent="triage", topic="t", partition=0, offset=1, failed_at=AT
        ),
        SlaMessage: SlaMessage(kind="decision", decision=decision),
        SlaState: SlaState(
            seq=3,
            partition=1,
            conversation={
                "key": "facebook:t1",
                "events": [event_from_result(result).model_dump(mode="json")],
            },
            published={"case-1": "abc"},
        ),
    }


SAMPLES = _samples()
TYPES = list(SAMPLES)
PLACEHOLDER = "\u0000HOSTILE\u0000"

# Fragments no well-behaved producer writes, spliced into JSON as raw text.
hostile_fragments = st.one_of(
    st.integers(1, 30_000).map(lambda n: "[" * n),
    st.integers(1, 30_000).map(lambda n: '{"a":' * n),
    st.integers(1, 30_000).map(lambda n: "[" * n + "]" * n),
    st.integers(4_000, 6_000).map(lambda n: "9" * n),
    st.integers(4_000, 6_000).map(lambda n: "-" + "1" * n),
    st.sampled_from(
        [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e400",
            "-1e400",
            "1e-400",
            '"\\ud800"',
            '"\\udfff tail"',
            '"\\ud83d"',
            '"\\u0000"',
            '"\\x41"',
            '"0001-01-01T00:00:00+05:00"',
            '"9999-12-31T23:59:59-05:00"',
            '"2026-13-45T99:99:99Z"',
            "true",
            "false",
            "null",
            "0",
            "-1",
            "1.5",
            '""',
            "[]",
            "{}",
            '[{"type": "image"}]',
            '{"id": 5}',
            '"' + "x" * 20_000 + '"',
        ]
    ),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            out.extend(_paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            out.extend(_paths(inner, (*prefix, index)))
    return out


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _set(value[head], rest, new)}
    copy = list(value)
    copy[head] = _set(copy[head], rest, new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, record_type: type[BaseModel]) -> bytes:
    """A valid record of ``record_type`` with one field, anywhere, made hostile."""
    doc = json.loads(encode(SAMPLES[record_type]))
    path = draw(st.sampled_from(_paths(doc)))
    fragment = draw(hostile_fragments)
    text = json.dumps(_set(doc, path, PLACEHOLDER))
    return text.replace(json.dumps(PLACEHOLDER), fragment).encode("utf-8", "surrogatepass")


def hostile_bytes(record_type: type[BaseModel]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        hostile_fragments.map(lambda t: t.encode()),
        mutated(record_type),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


def attempt(call: Any, refusal: type[Exception]) -> tuple[Any, Any]:
    """``(result, None)``, or ``(None, error)`` when ``call`` raised ``refusal``; any
    other exception fails the test."""
    try:
        return call(), None
    except refusal as exc:
        return None, exc


def check(record_type: type[BaseModel], data: bytes) -> None:
    record, refused = attempt(lambda: decode(data, record_type), InvalidRecord)
    if refused is not None:
        assert MARK not in refused.reason
        assert len(refused.reason) < 2000
        return
    assert isinstance(record, record_type)
    assert decode(encode(record), record_type) == record


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("record_type", TYPES, ids=lambda t: t.__name__)
def test_samples_are_valid_records(record_type):
    """Each sample the fuzzing starts from decodes to itself (so mutations test something)."""
    sample = SAMPLES[record_type]
    assert decode(encode(sample), record_type) == sample


@pytest.mark.parametrize("record_type", TYPES, ids=lambda t: t.__name__)
@FUZZ
@given(data=st.data())
def test_decode_returns_a_record_or_raises_invalid_record(record_type, data):
    """Arbitrary bytes, deep nesting, huge numbers, NaN, surrogates, wrong types: never a crash."""
    check(record_type, data.draw(hostile_bytes(record_type)))


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 20_000,
        b'{"schema": 1, "id": ' + b"9" * 5_000 + b"}",
        b'{"schema": 1, "scores": {"spam": NaN}}',
        b'{"schema": 1, "scores": {"spam": 1e400}}',
        b'{"schema": true}',
        b'{"schema": 1.0}',
        b'"\\ud800"',
        b"",
        None,
    ],
)
def test_the_issues_poison_pills_are_invalid_records(data):
    """The records reported to stop triage are refused with InvalidRecord, for every type."""
    for record_type in TYPES:
        with pytest.raises(InvalidRecord):
            decode(data, record_type)


def test_a_timestamp_that_overflows_in_utc_names_the_field():
    """0001-01-01 at +05:00 is before year 1 in UTC: refused, naming created_at."""
    doc = {**json.loads(encode(SAMPLES[Comment])), "created_at": "0001-01-01T00:00:00+05:00"}
    with pytest.raises(InvalidRecord, match="created_at"):
        decode(json.dumps(doc).encode(), Comment)


def test_a_reason_hides_the_keys_of_the_input():
    """A dict field's bad key (which may be personal data) is shown as *, not quoted."""
    doc = {**json.loads(encode(SAMPLES[Verdict])), "scores": {MARK: 0.5}}
    with pytest.raises(InvalidRecord) as info:
        decode(json.dumps(doc).encode(), Verdict)
    assert "scores.*" in info.value.reason
    assert MARK not in info.value.reason


# The readers: each hands a record to its view, or raises InvalidRecord.


def _reader() -> TopicReader:
    settings = Settings(broker="kafka://127.0.0.1:1", _env_file=None)  # type: ignore[call-arg]
    return TopicReader(settings, ModerationState(config=ModerationConfig(), clock=SystemClock()))


READERS = {
    "moderation view: review": (lambda: _reader()._on_review, ReviewItem),
    "moderation view: decisions": (lambda: _reader()._on_decision, Decision),
    "moderation view: audit": (lambda: _reader()._on_audit, AuditRecord),
    "sla view: cases": (lambda: lambda v: SlaView().on_case_record(b"k", v), Case),
    "sla view: emergency": (
        lambda: lambda v: SlaView().on_emergency_record(b"k", v),
        EmergencyChange,
    ),
    "sla state store": (
        lambda: lambda v: PartitionStore().on_record(1, b"facebook:t1", v),
        SlaState,
    ),
}


@pytest.mark.parametrize("name", list(READERS))
@FUZZ
@given(data=st.data())
def test_readers_take_a_record_or_raise_invalid_record(name, data):
    """What a whole-topic reader is handed either goes into its view or is InvalidRecord."""
    make, record_type = READERS[name]
    handler = make()
    payload = data.draw(hostile_bytes(record_type))
    _, refused = attempt(lambda: handler(payload), InvalidRecord)
    assert refused is None or MARK not in refused.reason


@pytest.mark.parametrize("key", [None, b"\xff\xfe"])
def test_the_state_store_refuses_a_record_without_a_readable_key(key):
    """A state record with no key, or a key that is not UTF-8, is InvalidRecord."""
    with pytest.raises(InvalidRecord):
        PartitionStore().on_record(1, key, encode(SAMPLES[SlaState]))


# The connectors: a webhook body or a platform's answer is refused, never a crash.


@FUZZ
@given(data=st.data())
@example(data=None)
def test_webhook_bodies_parse_or_are_refused(data):
    """parse_json (every webhook) returns JSON or raises Refused 400."""
    body = b"1" * 5_000 if data is None else data.draw(hostile_bytes(Comment))
    _, refused = attempt(lambda: parse_json(body), Refused)
    assert refused is None or refused.status == 400


@pytest.fixture(scope="module")
def generic(tmp_path_factory: pytest.TempPathFactory) -> GenericWebhookConnector:
    settings = ConnectorSettings(  # type: ignore[call-arg]
        _env_file=None,
        broker="kafka://127.0.0.1:1",
        connector_state_dir=tmp_path_factory.mktemp("state"),
        webhook_secret="s",
    )
    return GenericWebhookConnector(settings)


@FUZZ
@given(data=st.data())
def test_generic_webhook_comments_map_or_are_refused(generic, data):
    """The generic webhook's body either maps to Comments or is refused with a 400."""
    incoming = json.loads(encode(SAMPLES[Comment]))
    for field in ("schema", "received_at"):
        incoming.pop(field)
    body = data.draw(
        st.one_of(
            hostile_bytes(Comment),
            mutated(Comment).map(lambda b: b.replace(b'"schema": 1, ', b"")),
            st.just(json.dumps([incoming] * 3).encode()),
        )
    )
    comments, refused = attempt(lambda: generic._comments(body, AT), Refused)
    if refused is not None:
        assert refused.status == 400
        assert MARK not in refused.message
        return
    for comment in comments:
        assert decode(encode(comment), Comment) == comment


@FUZZ
@given(data=st.data())
@example(data=None)
def test_platform_answers_decode_or_count_as_unavailable(data, tmp_path_factory):
    """A poller's JSON answer decodes or raises PlatformUnavailable (retried later)."""
    body = b"[" * 20_000 if data is None else data.draw(hostile_bytes(Comment))
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    client = PlatformClient(
        "https://platform.test",
        SecretStr("t"),
        ConnectorMetrics("test"),
        transport=transport,
        max_retries=0,
    )

    async def get() -> Any:
        try:
            return await client.get_json("/feed")
        finally:
            await client.aclose()

    attempt(lambda: asyncio.run(get()), PlatformUnavailable)
