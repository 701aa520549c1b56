"""Dead letters and the breaker, without a broker."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from records import Comment, DeadLetter, decode, encode
from worker.clock import ManualClock
from worker.deadletter import Breaker, BreakerTripped, DeadLetters, decode_or_dead_letter
from worker.metrics import Metrics
from worker.producer import MemoryProducer
from worker.runtime import Fatal, Runtime
from worker.settings import Settings

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class DeadLetterTopic:
    """What the producer sent to the dead-letter topic, as (key, value) pairs."""

    def __init__(self, producer: MemoryProducer, name: str) -> None:
        self.producer = producer
        self.name = name

    @property
    def sent(self) -> list[tuple[bytes | None, bytes | None]]:
        return [(s.key, s.value) for s in self.producer.on(self.name)]


def make_dead_letters() -> tuple[DeadLetters, DeadLetterTopic, Runtime]:
    settings = Settings(broker="kafka://x:1")
    producer = MemoryProducer()
    topic = DeadLetterTopic(producer, settings.topics.deadletter)
    rt = Runtime(
        settings=settings,
        clock=ManualClock(NOW),
        metrics=Metrics(),
        app=None,
        producer=producer,
        fatal=Fatal(),
        channels=SimpleNamespace(),  # type: ignore[arg-type]
        specs={},
    )
    return DeadLetters(rt, agent="triage"), topic, rt


def event(value: bytes | None, key: bytes | None = b"facebook:t1", offset: int = 5):
    message = SimpleNamespace(
        topic="social.comments", partition=2, offset=offset, key=key, value=value
    )
    return SimpleNamespace(message=message)


VALID = (
    b'{"schema":1,"id":"c1","platform":"facebook","channel":"nherts","kind":"comment",'
    b'"thread_id":"t1","author":{"id":"a1"},"text":"hi",'
    b'"created_at":"2026-03-02T09:00:00Z","received_at":"2026-03-02T09:00:01Z"}'
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"{nope", "not JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (VALID.replace(b'"schema":1', b'"schema":2'), "unknown schema version 2"),
        (VALID.replace(b'"kind":"comment",', b""), "kind"),
        (VALID.replace(b'"hi"', b'"' + b"x" * 10_001 + b'"'), "text"),
        (None, "empty message"),
    ],
)
async def test_invalid_records_become_dead_letters_with_provenance(value, expected):
    """Each kind of bad record is dead-lettered with its bytes, reason and source offset."""
    dead, topic, _ = make_dead_letters()
    result = await decode_or_dead_letter(event(value), Comment, dead, Breaker(10, 1.0))
    assert result is None
    [(key, raw)] = topic.sent
    letter = decode(raw, DeadLetter)
    assert key == b"facebook:t1"
    assert expected in letter.error
    assert letter.original_value == value
    assert letter.original_key == b"facebook:t1"
    assert (letter.topic, letter.partition, letter.offset) == ("social.comments", 2, 5)
    assert letter.agent == "triage"
    assert letter.failed_at == NOW


async def test_valid_records_are_decoded_and_not_dead_lettered():
    """A valid comment comes back decoded and nothing is sent."""
    dead, topic, _ = make_dead_letters()
    comment = await decode_or_dead_letter(event(VALID), Comment, dead, Breaker(10, 1.0))
    assert comment is not None
    assert comment.id == "c1"
    assert topic.sent == []


async def test_dead_letter_reason_never_quotes_the_input():
    """The error names fields only, so a bad record's personal data stays out of it."""
    dead, topic, _ = make_dead_letters()
    secret = b"07700 900123 jane@example.org"
    value = VALID.replace(b'"kind":"comment"', b'"kind":"' + secret + b'"')
    await decode_or_dead_letter(event(value), Comment, dead, Breaker(10, 1.0))
    letter = decode(topic.sent[0][1], DeadLetter)
    assert "07700" not in letter.error
    assert "jane" not in letter.error


async def test_dead_letters_are_counted_in_metrics():
    """Every dead letter increments the per-agent counter."""
    dead, _, rt = make_dead_letters()
    await decode_or_dead_letter(event(b"x"), Comment, dead, Breaker(10, 1.0))
    counter = rt.metrics.dead_letters.labels(agent="triage")
    assert counter._value.get() == 1


def test_dead_letter_round_trips_as_json():
    """A DeadLetter encodes and decodes to the same record, bytes intact."""
    letter = DeadLetter(
        error="e",
        agent="sla",
        topic="t",
        partition=0,
        offset=1,
        key_b64=DeadLetter.b64(None),
        value_b64=DeadLetter.b64(b"\x00\xff"),
        failed_at=NOW,
    )
    again = decode(encode(letter), DeadLetter)
    assert again == letter
    assert again.original_value == b"\x00\xff"
    assert again.original_key is None


def test_a_dead_letter_of_a_message_keeps_its_bytes_and_cuts_a_long_reason():
    """DeadLetter.of, which the worker and the connectors share, keeps the original bytes
    and provenance and cuts a reason longer than the field allows instead of failing."""
    letter = DeadLetter.of(
        agent="actions",
        topic="t",
        partition=2,
        offset=9,
        key=b"k",
        value=b"\x00\xff",
        error="x" * 5000,
        at=NOW,
    )
    again = decode(encode(letter), DeadLetter)
    assert (again.original_key, again.original_value) == (b"k", b"\x00\xff")
    assert (again.agent, again.topic, again.partition, again.offset) == ("actions", "t", 2, 9)
    assert again.error == "x" * 2000


def test_breaker_trips_when_most_of_the_window_is_invalid():
    """With a window of 10 and ratio 0.8, the eighth bad record trips it."""
    breaker = Breaker(window=10, max_invalid_ratio=0.8)
    for _ in range(7):
        breaker.record(False)
    with pytest.raises(BreakerTripped, match="8 of the last 8"):
        breaker.record(False)


def test_breaker_ignores_a_trickle_of_bad_records():
    """One bad record in three never trips a 0.8 breaker, however long it runs."""
    breaker = Breaker(window=10, max_invalid_ratio=0.8)
    for i in range(1000):
        breaker.record(i % 3 != 0)
    assert breaker.invalid_in_window <= 4


def test_breaker_forgets_records_that_left_the_window():
    """Old failures slide out of the window, so the count falls again."""
    breaker = Breaker(window=10, max_invalid_ratio=0.8)
    for _ in range(7):
        breaker.record(False)
    for _ in range(10):
        breaker.record(True)
    assert breaker.invalid_in_window == 0
    for _ in range(7):
        breaker.record(False)
    assert breaker.invalid_in_window == 7


def test_breaker_from_settings_uses_the_configured_window():
    """Breaker.from_settings reads TRIAGE_BREAKER_WINDOW and the ratio."""
    settings = Settings(breaker_window=20, breaker_max_invalid_ratio=0.5)
    breaker = Breaker.from_settings(settings)
    assert (breaker.window, breaker.max_invalid_ratio) == (20, 0.5)
    for _ in range(9):
        breaker.record(False)
    with pytest.raises(BreakerTripped):
        breaker.record(False)


def test_breaker_rejects_nonsense_limits():
    """A ratio outside (0, 1] or an empty window is refused at construction."""
    with pytest.raises(ValueError, match="ratio"):
        Breaker(10, 0)
    with pytest.raises(ValueError, match="window"):
        Breaker(0, 0.5)


async def test_breaker_gauges_show_the_window_even_when_it_trips():
    """triage_breaker_invalid counts the invalid records in the window, up to the one that
    trips the breaker, beside triage_breaker_limit."""
    dead, _, rt = make_dead_letters()
    breaker = Breaker(4, 0.5)
    await decode_or_dead_letter(event(VALID), Comment, dead, breaker)
    await decode_or_dead_letter(event(b"x"), Comment, dead, breaker)
    sample = rt.metrics.registry.get_sample_value
    assert sample("triage_breaker_invalid", {"agent": "triage"}) == 1
    assert sample("triage_breaker_limit", {"agent": "triage"}) == 2
    with pytest.raises(BreakerTripped):
        await decode_or_dead_letter(event(b"y"), Comment, dead, breaker)
    assert sample("triage_breaker_invalid", {"agent": "triage"}) == 2
