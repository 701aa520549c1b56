"""The state file: cursors and delivered keys survive a restart; damage is not ignored."""

from __future__ import annotations

import pytest

from connectors import ConnectorState, StateError


def test_cursor_seen_keys_and_threads_round_trip(tmp_path):
    """What is saved is what the next process loads."""
    path = tmp_path / "x.json"
    state = ConnectorState.load(path)
    state.set_cursor("mentions", "1860")
    state.mark_seen(["x:1", "x:2"])
    state.remember("threads", "3", "1")
    state.save()
    again = ConnectorState.load(path)
    assert again.cursor("mentions") == "1860"
    assert again.seen("x:1")
    assert again.seen("x:2")
    assert not again.seen("x:3")
    assert again.lookup("threads", "3") == "1"


def test_seen_keys_are_bounded_oldest_first(tmp_path):
    """Past the bound, the oldest delivered keys are forgotten first."""
    state = ConnectorState(tmp_path / "s.json", max_seen=100)
    state.mark_seen([f"k{n}" for n in range(150)])
    assert not state.seen("k0")
    assert not state.seen("k49")
    assert state.seen("k50")
    assert state.seen("k149")


def test_save_replaces_the_file_without_leftovers(tmp_path):
    """Saving twice leaves exactly one file and no temporary files behind."""
    state = ConnectorState(tmp_path / "s.json")
    state.set_cursor("a", "1")
    state.save()
    state.set_cursor("a", "2")
    state.save()
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]
    assert ConnectorState.load(tmp_path / "s.json").cursor("a") == "2"


@pytest.mark.parametrize("content", ["{half", '{"version": 99}', "[1, 2]"])
def test_damaged_state_refuses_to_load(tmp_path, content):
    """A damaged or foreign state file raises StateError instead of silently starting over."""
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(StateError):
        ConnectorState.load(path)
