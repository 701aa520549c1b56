"""Waiting in tests: poll a condition until it holds, rather than sleep and hope."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

WAIT_S = 90.0
"""Generous, because the machines are shared; a wait ends as soon as its condition holds."""


async def until(check: Any, what: str = "the condition", within: float = WAIT_S) -> Any:
    """Poll ``check()`` (plain or async) until it returns something truthy; return that.

    AssertionError naming ``what`` when ``within`` seconds pass first.
    """
    deadline = time.monotonic() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)
