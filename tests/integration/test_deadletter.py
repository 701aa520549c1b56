"""Bad records on a real broker: dead-lettered with provenance, good ones carry on, breaker."""

from __future__ import annotations

import asyncio

import pytest

from records import DeadLetter, TriageResult, encode
from tests.integration.conftest import make_comment

pytestmark = pytest.mark.integration


async def test_malformed_records_are_dead_lettered_and_good_ones_processed(
    running_worker, produce, read_topic
):
    """Undecodable records go to triage.deadletter with bytes and offsets; later ones pass."""
    worker = await running_worker()
    good = make_comment(1, "pothole")
    wrong_version = encode(good).replace(b'"schema":1', b'"schema":9')
    bad = [b"not json", b"\xff\xfe", b'{"schema": 1, "id": "x"}', wrong_version]
    # One key: everything lands on one partition, in this order.
    await produce(worker.topics.comments, [*bad, good], key=b"facebook:t1")

    letters = await read_topic(worker.topics.deadletter, 4, DeadLetter)
    assert [letter.original_value for letter in letters] == bad
    assert [letter.offset for letter in letters] == [0, 1, 2, 3]
    assert {letter.topic for letter in letters} == {worker.topics.comments}
    assert len({letter.partition for letter in letters}) == 1
    assert all(letter.original_key == b"facebook:t1" for letter in letters)
    assert "not JSON" in letters[0].error
    assert "UTF-8" in letters[1].error
    assert "schema version" in letters[3].error

    [result] = await read_topic(worker.topics.verdicts, 1, TriageResult)
    assert result.comment.id == "c1"
    assert not worker.ctx.fatal.event.is_set()


async def test_breaker_stops_the_worker_when_most_records_are_invalid(
    running_worker, produce, read_topic
):
    """A run of invalid records trips the breaker, which stops the worker with a reason."""
    worker = await running_worker(breaker_window=10, breaker_max_invalid_ratio=0.5)
    await produce(worker.topics.comments, [b"garbage"] * 8, key=b"facebook:t1")

    fatal = worker.ctx.fatal
    await asyncio.wait_for(fatal.event.wait(), timeout=60)
    assert "invalid" in str(fatal.error)
    # The record that tripped it is left for a later run, not dead-lettered.
    with pytest.raises(AssertionError, match="4 of 5 records"):
        await read_topic(worker.topics.deadletter, 5, within=5)
