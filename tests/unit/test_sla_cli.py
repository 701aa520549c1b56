"""``triage sla due``: the operators' deadline calculator."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from worker.cli import cli


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "working_time:\n  timezone: Europe/London\n  reply_target_hours: 8\n", encoding="utf-8"
    )
    return path


def due(policy_file: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["sla", "due", *args], env={"TRIAGE_POLICY": str(policy_file)})
    return result.exit_code, result.output.strip()


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2026-11-23T10:00", "2026-11-24T10:00:00+00:00"),
        ("2026-11-27 16:00", "2026-11-30T16:00:00+00:00"),
        ("2026-11-28T11:15", "2026-11-30T17:00:00+00:00"),
        ("2026-12-24T16:00", "2026-12-29T16:00:00+00:00"),
        ("2026-03-27T16:30", "2026-03-30T16:30:00+01:00"),
        ("2027-03-25T12:00", "2027-03-30T12:00:00+01:00"),
        ("2027-03-25T11:00:00+00:00", "2027-03-30T11:00:00+01:00"),
    ],
)
def test_due_prints_the_issue_examples(policy_file: Path, timestamp: str, expected: str) -> None:
    """The command prints the London due instant with its offset."""
    assert due(policy_file, timestamp) == (0, expected)


def test_hours_option_overrides_the_target(policy_file: Path) -> None:
    """--hours 2 gives two working hours instead of the policy's eight."""
    assert due(policy_file, "2026-11-23T16:00", "--hours", "2") == (
        0,
        "2026-11-24T10:00:00+00:00",
    )


def test_bad_timestamp_is_a_usage_error(policy_file: Path) -> None:
    """A timestamp that is not ISO-8601 exits with code 2 and says so."""
    code, output = due(policy_file, "next tuesday")
    assert code == 2
    assert "ISO-8601" in output


def test_broken_policy_file_exits_2(tmp_path: Path) -> None:
    """An invalid working_time section is reported, not a traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("working_time:\n  timezone: Nowhere/Else\n", encoding="utf-8")
    code, output = due(bad, "2026-11-23T10:00")
    assert code == 2
    assert "time zone" in output


def test_emergency_needs_a_reachable_broker() -> None:
    """Without TRIAGE_BROKER the switch refuses, since no worker could hear it."""
    result = CliRunner().invoke(
        cli, ["emergency", "on", "--by", "duty", "--reason", "flood"], env={"TRIAGE_BROKER": ""}
    )
    assert result.exit_code == 2
    assert "TRIAGE_BROKER" in result.output


def test_emergency_needs_who_and_why() -> None:
    """--by and --reason are required and may not be blank."""
    runner = CliRunner()
    assert runner.invoke(cli, ["emergency", "on", "--reason", "flood"]).exit_code == 2
    blank = runner.invoke(cli, ["emergency", "off", "--by", " ", "--reason", "over"])
    assert blank.exit_code == 2
    assert "--by" in blank.output
