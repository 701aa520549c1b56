"""The `triage classify` contract: JSON Lines in, one verdict line per input line, in order."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from records import CATEGORIES
from worker.cli import cli


class KeywordModel:
    """A stand-in for the shipped model, so the contract is tested on its own."""

    version = "keywords-1"
    review_cut = 0.3
    degraded = None
    thresholds = dict.fromkeys(CATEGORIES, 0.5)

    def predict_proba(self, texts, findings=None):
        out = np.full((len(texts), 4), 0.05)
        for i, text in enumerate(texts):
            if "bin" in text:
                out[i, 0] = 0.9
            if "idiot" in text:
                out[i, 1] = 0.9
        return out


@pytest.fixture(autouse=True)
def stub_model(monkeypatch):
    from classifiers.shipped import ShippedModel

    monkeypatch.setattr(
        ShippedModel, "load", classmethod(lambda cls, model_dir, **_: KeywordModel())
    )
    for name in (
        "TRIAGE_DETOXIFY_CHECKPOINT",
        "TRIAGE_DETOXIFY_CONFIG_DIR",
        "TRIAGE_REQUIRE_DETOXIFY",
    ):
        monkeypatch.delenv(name, raising=False)


def run(stdin: bytes, *args: str) -> tuple[Result, list[dict[str, Any]]]:
    result = CliRunner().invoke(cli, ["classify", *args], input=stdin)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result, lines


def test_output_lines_match_input_lines_in_order():
    """Each input line gives one output line with its id, labels, all four scores and lane."""
    rows = [
        {"id": f"c{i}", "text": text} for i, text in enumerate(["my bin", "you idiot", "hi"] * 200)
    ]
    stdin = "".join(json.dumps(r) + "\n" for r in rows).encode()
    result, lines = run(stdin)
    assert result.exit_code == 0, result.stderr
    assert [line["id"] for line in lines] == [r["id"] for r in rows]
    assert lines[0]["labels"] == ["service_request"]
    assert lines[0]["lane"] == "response"
    assert lines[1]["labels"] == ["abusive"]
    assert lines[2]["labels"] == []
    assert lines[2]["lane"] is None
    for line in lines[:3]:
        assert set(line["scores"]) == set(CATEGORIES)
        assert {"reasons", "actions", "signals", "model"} <= set(line)


def test_bad_lines_give_error_lines_and_the_rest_are_classified():
    """Broken JSON, missing text and non-objects each get an error line; good lines still work."""
    stdin = b"\n".join(
        [
            b'{"id": "a", "text": "my bin"}',
            b"{not json",
            b'{"id": "b"}',
            b"[1, 2]",
            b'{"id": 7, "text": 12}',
            b"\xff\xfe",
            b'{"text": "no id here, idiot"}',
        ]
    )
    result, lines = run(stdin + b"\n")
    assert result.exit_code == 0
    assert len(lines) == 7
    assert lines[0]["labels"] == ["service_request"]
    assert lines[1] == {"line": 2, "error": lines[1]["error"]}
    assert lines[1]["error"].startswith("not JSON")
    assert lines[2] == {"id": "b", "error": "missing text"}
    assert lines[3]["line"] == 4
    assert lines[4] == {"id": 7, "error": "text must be a string"}
    assert lines[5] == {"line": 6, "error": "not UTF-8"}
    assert lines[6]["line"] == 7
    assert lines[6]["labels"] == ["abusive"]


def test_empty_input_gives_empty_output():
    """No input lines (or only blank ones) is not an error and writes nothing."""
    result, lines = run(b"")
    assert result.exit_code == 0
    assert lines == []
    result, lines = run(b"\n\n  \n")
    assert result.exit_code == 0
    assert lines == []


def test_input_that_is_not_json_lines_at_all_exits_non_zero():
    """A file with no line of JSON is unusable: error lines are written and the exit code is 1."""
    result, lines = run(b"this is\na plain text file\n")
    assert result.exit_code == 1
    assert [line["line"] for line in lines] == [1, 2]
    assert "not JSON Lines" in result.stderr


def test_whole_comments_are_accepted_and_direct_messages_stay_private():
    """A line with Comment fields is read as a Comment: a phone number in a DM is not flagged."""
    base = {
        "platform": "facebook",
        "channel": "nhdc",
        "thread_id": "t1",
        "author": {"id": "a1"},
        "text": "my bin was missed, call me on 07700 900123",
        "created_at": "2026-11-24T10:00:00Z",
        "received_at": "2026-11-24T10:00:01Z",
    }
    rows = [
        {**base, "id": "pub", "kind": "comment"},
        {**base, "id": "dm", "kind": "direct_message"},
    ]
    rows.append({**base, "id": "bad", "kind": "carrier-pigeon"})
    stdin = "".join(json.dumps(r) + "\n" for r in rows).encode()
    result, lines = run(stdin)
    assert result.exit_code == 0
    assert lines[0]["lanes"] == ["moderation", "response"]
    assert lines[1]["lanes"] == ["response"]
    assert lines[2] == {"id": "bad", "error": "invalid comment field kind"}


def test_files_in_and_out(tmp_path):
    """--input and --output read and write files."""
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": 1, "text": "bin"}\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["classify", "--input", str(src), "--output", str(dst)])
    assert result.exit_code == 0, result.stderr
    assert json.loads(dst.read_text(encoding="utf-8"))["id"] == 1


def test_a_missing_model_exits_with_a_clear_message(monkeypatch, tmp_path):
    """Without a model the command stops before reading input, naming the directory."""
    monkeypatch.undo()
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(cli, ["classify"], input=b'{"id": 1, "text": "x"}\n')
    assert result.exit_code == 1
    assert "nowhere" in result.stderr
