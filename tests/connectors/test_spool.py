"""The webhook spool: fsync'd lines, replayed on start less what was delivered."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors import spool as spool_module
from connectors.sink import Outgoing
from connectors.spool import Spool, SpoolError
from records import Author, Comment


def item(n: int) -> Outgoing:
    at = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    comment = Comment(
        id=f"m-{n}",
        platform="webhook",
        channel="web",
        kind="comment",
        thread_id=f"t-{n}",
        author=Author(id="visitor"),
        text=f"message {n}\nwith a second line",
        created_at=at,
        received_at=at,
        connector="webhook",
    )
    return Outgoing(comment, comment.comment_key)


def never(_key: str) -> bool:
    return False


def test_what_was_appended_is_recovered_in_order(tmp_path):
    """A new process reads back every line, in order, as the same comments."""
    first = Spool(tmp_path)
    first.recover(never)
    first.append([item(1), item(2)])
    first.append([item(3)])
    again = Spool(tmp_path).recover(never)
    assert again == [item(1), item(2), item(3)]


def test_delivered_lines_are_dropped_and_the_rest_compacted(tmp_path):
    """Recovery drops what the state file calls delivered and leaves one segment."""
    first = Spool(tmp_path)
    first.recover(never)
    first.append([item(1), item(2), item(3)])
    second = Spool(tmp_path)
    kept = second.recover(lambda key: key == "webhook:m-2")
    assert [i.comment.id for i in kept] == ["m-1", "m-3"]
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    assert second.pending == 2
    assert [i.comment.id for i in Spool(tmp_path).recover(never)] == ["m-1", "m-3"]


def test_confirmed_segments_are_deleted_and_partial_ones_kept(tmp_path, monkeypatch):
    """A segment goes once all of its lines are confirmed, not before."""
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 1)  # one append per segment
    spool = Spool(tmp_path)
    spool.recover(never)
    spool.append([item(1), item(2)])
    spool.append([item(3)])
    assert len(list(tmp_path.glob("*.jsonl"))) == 2
    spool.confirmed(1)
    spool.release()
    assert len(list(tmp_path.glob("*.jsonl"))) == 2
    spool.confirmed(1)
    spool.release()
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    assert [i.comment.id for i in Spool(tmp_path).recover(never)] == ["m-3"]


def test_a_line_cut_short_at_the_end_is_skipped(tmp_path):
    """A crash mid-write leaves a partial last line; it was never answered 200, so it goes."""
    spool = Spool(tmp_path)
    spool.recover(never)
    spool.append([item(1)])
    [segment] = tmp_path.glob("*.jsonl")
    with segment.open("ab") as out:
        out.write(b'{"key":"webhook:m-2","comm')
    assert [i.comment.id for i in Spool(tmp_path).recover(never)] == ["m-1"]


def test_damage_before_the_end_stops_recovery(tmp_path):
    """An unreadable line in the middle is an error naming the line, not a silent loss."""
    spool = Spool(tmp_path)
    spool.recover(never)
    spool.append([item(1), item(2)])
    [segment] = tmp_path.glob("*.jsonl")
    lines = segment.read_bytes().split(b"\n")
    segment.write_bytes(b"\n".join([b"not json", *lines[1:]]))
    with pytest.raises(SpoolError, match="line 1"):
        Spool(tmp_path).recover(never)
    assert segment.exists()  # kept for a person to look at
