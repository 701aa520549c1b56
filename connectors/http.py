"""One HTTP client for the platforms: retries, backoff with jitter, rate limits.

Failure classes, routed differently:

- a timeout, connection error or 5xx is transient: retried with exponential backoff and
  full jitter, up to ``max_retries``, then :class:`PlatformUnavailable`;
- a 429 is waited out (Retry-After, else the platform's reset header) and retried, and a
  response that says no requests remain makes the next request wait for the reset;
- any other 4xx is :class:`PlatformRefused` (a bad token or setting: retrying won't help).

The transport, the sleep and the wall clock are injectable so that tests neither need the
network nor really wait.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from pydantic import SecretStr

from connectors.metrics import ConnectorMetrics

if TYPE_CHECKING:
    from connectors.settings import ConnectorSettings

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Reset headers: X sends x-rate-limit-*, Mastodon x-ratelimit-* (an ISO time).
_RESET_HEADERS = ("x-rate-limit-reset", "x-ratelimit-reset")
_REMAINING_HEADERS = ("x-rate-limit-remaining", "x-ratelimit-remaining")
MAX_WAIT_S = 15 * 60.0


class PlatformError(RuntimeError):
    """A platform request failed for good."""


class PlatformUnavailable(PlatformError):
    """Still timing out or failing with 5xx after every retry."""


class PlatformRefused(PlatformError):
    """A 4xx other than 429: a bad token, id or setting."""

    def __init__(self, status: int, url: str, body: Any = None) -> None:
        super().__init__(f"the platform refused the request with HTTP {status} ({url})")
        self.status = status
        # The decoded JSON error body, when there was one (Graph error codes live there).
        self.body = body


class PlatformClient:
    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        metrics: ConnectorMetrics,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 6,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.metrics = metrics
        self.max_retries = max_retries
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.sleep = sleep
        self.now = now
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._not_before = 0.0
        self._client = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            timeout=timeout_s,
            headers={
                "Authorization": f"Bearer {token.get_secret_value()}",
                "User-Agent": "council-social-triage",
            },
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` and decode JSON, with the retry policy above."""
        response = await self.get(path, params)
        try:
            return response.json()
        except (ValueError, RecursionError):
            raise PlatformUnavailable(f"the platform answered {path} with non-JSON") from None

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return await self.request("GET", path, params=params)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Any method, with the retry policy above (callers make writes idempotent)."""
        failures = 0
        while True:
            wait = self._not_before - self.now()
            if wait > 0:
                log.info("waiting for the platform's rate limit to reset", seconds=round(wait, 1))
                await self.sleep(min(wait, MAX_WAIT_S))
            try:
                response = await self._client.request(
                    method, path, params=params, json=json, headers=headers
                )
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                failures += 1
                self.metrics.http_retry("timeout")
                await self._retry_or_raise(failures, f"{type(exc).__name__} on {path}")
                continue
            if response.status_code == 429:
                self.metrics.http_retry("rate_limited")
                delay = self._retry_after(response.headers)
                log.warning("rate limited by the platform", path=path, wait_s=round(delay, 1))
                self._not_before = self.now() + delay
                continue
            if response.status_code >= 500:
                failures += 1
                self.metrics.http_retry("server_error")
                await self._retry_or_raise(failures, f"HTTP {response.status_code} on {path}")
                continue
            if response.status_code >= 400:
                raise PlatformRefused(response.status_code, path, _json_or_none(response))
            self._note_remaining(response.headers)
            self.metrics.success(self.now())
            return response

    async def _retry_or_raise(self, failures: int, what: str) -> None:
        if failures > self.max_retries:
            raise PlatformUnavailable(f"gave up after {failures} attempts: {what}")
        ceiling = min(self.max_backoff_s, self.base_backoff_s * 2 ** (failures - 1))
        delay = self.rng.uniform(0, ceiling)
        log.warning("platform request failed; retrying", cause=what, wait_s=round(delay, 2))
        await self.sleep(delay)

    def _note_remaining(self, headers: httpx.Headers) -> None:
        remaining = _first(headers, _REMAINING_HEADERS)
        if remaining is not None and remaining.strip() == "0":
            reset = self._reset_at(headers)
            if reset is not None:
                self._not_before = reset

    def _retry_after(self, headers: httpx.Headers) -> float:
        value = headers.get("retry-after")
        if value is not None:
            delay = _parse_retry_after(value, self.now())
            if delay is not None:
                return min(max(delay, 0.0), MAX_WAIT_S)
        reset = self._reset_at(headers)
        if reset is not None:
            return min(max(reset - self.now(), 1.0), MAX_WAIT_S)
        return 60.0  # no hint: a minute is what both platforms' windows divide into

    def _reset_at(self, headers: httpx.Headers) -> float | None:
        value = _first(headers, _RESET_HEADERS)
        if value is None:
            return None
        return _parse_instant(value)


class MakesPlatformClients:
    """Builds platform clients with the holder's timeouts, retries, transport and clock."""

    settings: ConnectorSettings
    metrics: ConnectorMetrics
    transport: httpx.AsyncBaseTransport | None
    sleep: Sleep
    now: Callable[[], float]

    def platform_client(self, base_url: str, token: SecretStr) -> PlatformClient:
        """A client for ``base_url`` with this holder's settings."""
        return PlatformClient(
            base_url,
            token,
            self.metrics,
            transport=self.transport,
            timeout_s=self.settings.connector_request_timeout_s,
            max_retries=self.settings.connector_max_retries,
            sleep=self.sleep,
            now=self.now,
        )


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def _first(headers: httpx.Headers, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if isinstance(value, str):
            return value
    return None


def _parse_instant(value: str) -> float | None:
    """Epoch seconds (X) or an ISO-8601 time (Mastodon) -> epoch seconds."""
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _parse_retry_after(value: str, now: float) -> float | None:
    """Retry-After is delta-seconds or an HTTP date."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None
