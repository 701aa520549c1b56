"""The platform client's retry and rate-limit policy, with an in-memory transport."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors import ConnectorMetrics, PlatformClient, PlatformUnavailable

from .fakes import FakeTime


def client(handler: Any, clock: FakeTime, **kw: Any) -> PlatformClient:
    return PlatformClient(
        "https://platform.test",
        SecretStr("tok"),
        ConnectorMetrics("t"),
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        now=clock.now,
        rng=random.Random(7),
        **kw,
    )


async def test_timeouts_give_up_after_max_retries():
    """Timeouts are retried max_retries times with capped backoff, then PlatformUnavailable."""
    clock = FakeTime()

    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    c = client(handler, clock, max_retries=3, base_backoff_s=1.0, max_backoff_s=2.0)
    with pytest.raises(PlatformUnavailable):
        await c.get("/x")
    await c.aclose()
    assert len(clock.sleeps) == 3
    assert all(0 <= s <= 2.0 for s in clock.sleeps)


async def test_retry_after_seconds_wins_over_reset_header():
    """A 429's Retry-After (seconds) is the wait, even when a reset header is present too."""
    clock = FakeTime()
    answers = [
        httpx.Response(
            429, headers={"Retry-After": "7", "x-rate-limit-reset": str(int(clock.now()) + 900)}
        ),
        httpx.Response(200, json={"ok": True}),
    ]
    c = client(lambda request: answers.pop(0), clock)
    assert await c.get_json("/x") == {"ok": True}
    await c.aclose()
    assert clock.sleeps == [7.0]


async def test_exhausted_quota_waits_before_the_next_request():
    """remaining=0 on a success makes the next request wait until the reset time."""
    clock = FakeTime()
    reset = int(clock.now()) + 120
    answers = [
        httpx.Response(
            200, json=[], headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}
        ),
        httpx.Response(200, json=[]),
    ]
    c = client(lambda request: answers.pop(0), clock)
    await c.get("/x")
    assert clock.sleeps == []
    await c.get("/x")
    await c.aclose()
    assert clock.sleeps == [120.0]


async def test_bearer_token_is_sent_and_not_in_repr():
    """The token goes in the Authorization header, and the settings never show it."""
    from connectors import ConnectorSettings

    seen = []
    clock = FakeTime()

    def handler(request):
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={})

    c = client(handler, clock)
    await c.get("/x")
    await c.aclose()
    assert seen == ["Bearer tok"]
    settings = ConnectorSettings(_env_file=None, x_bearer_token="very-secret")
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump())
