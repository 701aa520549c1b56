"""/health, /ready and /metrics (worker/web/ops.py) on an aiohttp test server."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from worker.context import WorkerContext
from worker.settings import Settings
from worker.web import ops


async def client_for(ctx: WorkerContext) -> TestClient:
    app = web.Application()
    ops.setup(app, ctx)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_health_is_ok_and_ready_follows_the_context():
    """/health is 200 at once; /ready is 503 until ctx.ready, then 200, then 503 on a fatal."""
    ctx = WorkerContext(settings=Settings())
    client = await client_for(ctx)
    try:
        assert (await client.get("/health")).status == 200
        assert (await client.get("/ready")).status == 503
        ctx.ready = True
        assert (await client.get("/ready")).status == 200
        ctx.fatal.set(RuntimeError("breaker"))
        assert (await client.get("/ready")).status == 503
    finally:
        await client.close()


async def test_metrics_are_prometheus_text_from_this_worker():
    """/metrics renders this worker's own registry, counts included."""
    ctx = WorkerContext(settings=Settings())
    ctx.metrics.flagged.labels(category="spam").inc(3)
    client = await client_for(ctx)
    try:
        response = await client.get("/metrics")
        body = await response.text()
    finally:
        await client.close()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'triage_flagged_total{category="spam"} 3.0' in body


async def test_metrics_need_the_bearer_token_when_one_is_set():
    """With TRIAGE_METRICS_TOKEN set, /metrics refuses missing or wrong tokens only."""
    ctx = WorkerContext(settings=Settings(metrics_token="s3cret"))
    client = await client_for(ctx)
    try:
        assert (await client.get("/metrics")).status == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        right = await client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert right.status == 200
    finally:
        await client.close()


def test_each_context_has_its_own_registry():
    """Two workers in one process count separately (no global registry)."""
    a, b = WorkerContext(settings=Settings()), WorkerContext(settings=Settings())
    a.metrics.dead_letters.labels(agent="triage").inc()
    b.metrics.dead_letters.labels(agent="triage")
    sample = ("triage_dead_letters_total", {"agent": "triage"})
    assert a.metrics.registry.get_sample_value(*sample) == 1
    assert b.metrics.registry.get_sample_value(*sample) == 0
