"""`triage run`'s options: --no-web leaves the officers' app out, and the app is in by
default; `triage web` is a command of its own."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from worker.cli import cli
from worker.cli import run as run_command


@pytest.fixture
def served(monkeypatch) -> list[dict[str, Any]]:
    """What `triage run` would have served with, instead of serving."""
    calls: list[dict[str, Any]] = []

    async def serve(settings: Any, **options: Any) -> int:
        calls.append(options)
        return 0

    monkeypatch.setattr(run_command, "serve", serve)
    return calls


@pytest.mark.parametrize(("args", "web"), [([], True), (["--no-web"], False)])
def test_no_web_leaves_the_app_out(served, args, web):
    """The app is served unless --no-web is given."""
    result = CliRunner().invoke(cli, ["run", "--no-notify", *args])
    assert result.exit_code == 0, result.output
    assert [call["web_app"] for call in served] == [web]


def test_triage_web_is_listed_with_its_summary():
    """`triage --help` lists the web command with what it does."""
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "web" in result.output
    assert "officers' app and API alone" in result.output
