"""Only /health, /ready and /login are open; /metrics is open only behind its own token."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from worker.context import WorkerContext
from worker.settings import Settings
from worker.web import ops, security


async def _client(ctx: WorkerContext) -> TestClient:
    app = web.Application()
    security.setup(app, ctx)
    ops.setup(app, ctx)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_metrics_need_an_account_when_no_metrics_token_is_set(tmp_path: Path):
    """Without TRIAGE_METRICS_TOKEN, /metrics is refused to a caller who has not signed in."""
    ctx = WorkerContext(settings=Settings(data_dir=tmp_path))
    client = await _client(ctx)
    try:
        assert (await client.get("/health")).status == 200
        refused = await client.get(
            "/metrics", headers={"Authorization": "Bearer nope"}, allow_redirects=False
        )
        assert refused.status == 401
        anonymous = await client.get("/metrics", allow_redirects=False)
        assert anonymous.status in (303, 401)
    finally:
        await client.close()


async def test_metrics_open_to_their_own_token(tmp_path: Path):
    """With TRIAGE_METRICS_TOKEN set, the scraper's token alone opens /metrics."""
    settings = Settings(data_dir=tmp_path, metrics_token="scrape-me")
    client = await _client(WorkerContext(settings=settings))
    try:
        ok = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert ok.status == 200
        assert "triage_" in await ok.text()
        assert (await client.get("/metrics")).status == 401
    finally:
        await client.close()


async def test_an_officers_api_token_opens_metrics(tmp_path: Path):
    """Without a metrics token, any signed-in user's API token may read /metrics."""
    settings = Settings(data_dir=tmp_path)
    ctx = WorkerContext(settings=settings)
    client = await _client(ctx)
    try:
        token = security.user_store(ctx).issue_token(
            security.user_store(ctx).add("ops", "viewer", "a long enough password").name
        )
        ok = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status == 200
    finally:
        await client.close()
