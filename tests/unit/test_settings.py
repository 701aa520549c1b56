"""Settings: typed, validated, frozen, from TRIAGE_* variables and an optional file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worker.settings import Settings, SettingsError, load_settings


def test_defaults_describe_an_embedded_single_machine_setup(monkeypatch: pytest.MonkeyPatch):
    """With nothing set, the worker uses the embedded broker and in-memory tables on port 6066."""
    for name in ("TRIAGE_BROKER", "TRIAGE_STORE", "TRIAGE_WEB_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.embedded
    assert settings.store == "memory://"
    assert settings.web_port == 6066
    assert settings.policy.is_file()


def test_environment_variables_are_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch):
    """TRIAGE_BROKER, TRIAGE_TOPIC_PREFIX and TRIAGE_PARTITIONS reach the settings object."""
    monkeypatch.setenv("TRIAGE_BROKER", "kafka://127.0.0.1:9092")
    monkeypatch.setenv("TRIAGE_TOPIC_PREFIX", "nhdc.")
    monkeypatch.setenv("TRIAGE_PARTITIONS", "12")
    settings = load_settings()
    assert settings.broker == "kafka://127.0.0.1:9092"
    assert not settings.embedded
    assert settings.partitions == 12
    assert settings.topics.comments == "nhdc.social.comments"


def test_settings_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """An optional file supplies settings; an environment variable overrides the file."""
    env_file = tmp_path / "triage.env"
    env_file.write_text("TRIAGE_PARTITIONS=6\nTRIAGE_WEB_PORT=7000\n")
    monkeypatch.setenv("TRIAGE_WEB_PORT", "7001")
    settings = load_settings(env_file)
    assert settings.partitions == 6
    assert settings.web_port == 7001


def test_settings_are_frozen():
    """Nothing can change the settings once built."""
    settings = Settings()
    with pytest.raises(Exception, match="frozen"):
        settings.partitions = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRIAGE_BROKER", "localhost:9092"),
        ("TRIAGE_PARTITIONS", "zero"),
        ("TRIAGE_STORE", "redis://x"),
        ("TRIAGE_WEB_PORT", "70000"),
    ],
)
def test_invalid_setting_is_named_in_one_message(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
):
    """A bad value gives one clear message that names the variable."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_cli_exits_2_without_traceback_on_invalid_settings(tmp_path: Path):
    """`triage` with a bad setting prints one line naming it and exits with code 2."""
    result = subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", "broker"],
        env={"TRIAGE_PARTITIONS": "-1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "TRIAGE_PARTITIONS" in result.stderr
    assert "Traceback" not in result.stderr
