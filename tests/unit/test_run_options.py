"""`triage run`'s options: --no-web leaves the officers' app out, and the app is in by
default; `triage web` is a command of its own."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from tests.e2e.site import FAST_HASHER, make_users
from worker.cli import cli
from worker.cli import run as run_command
from worker.context import WorkerContext
from worker.settings import Settings
from worker.web.app import create_web_app


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


async def test_without_the_officers_app_only_the_operators_endpoints_answer(tmp_path):
    """A worker run --no-web still answers /health, /ready and /metrics (with its token),
    and nothing else, even with an officer's API token."""
    ctx = WorkerContext(settings=Settings(data_dir=tmp_path, metrics_token="scrape-token"))
    ctx.ready = True
    store = ctx.views.users = make_users(tmp_path, FAST_HASHER)
    officer = {"Authorization": f"Bearer {store.issue_token('olivia')}"}
    async with TestClient(TestServer(create_web_app(ctx, officers=False))) as client:
        for path in ("/health", "/ready"):
            assert (await client.get(path)).status == 200, path
        scrape = {"Authorization": "Bearer scrape-token"}
        assert (await client.get("/metrics", headers=scrape)).status == 200
        assert (await client.get("/metrics")).status == 401
        for path in ("/", "/login", "/api/review", "/replies"):
            response = await client.get(path, headers=officer, allow_redirects=False)
            assert response.status == 404, path
