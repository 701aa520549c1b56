"""`triage run` with a fault planted, for the tests that need a real process to fail.

    python -m tests.faults.inject FAULT MARKER_FILE

FAULT is ``bug`` (classifying raises, as a bug would) or ``hang`` (the triage agent stops
after writing some outputs of a batch, before acknowledging it, and writes MARKER_FILE so
the test knows to SIGKILL it mid-batch).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

HANG_AFTER = 40
"""Outputs written before the agent hangs (a batch of 8 writes 8 to 16)."""


def plant(fault: str, marker: Path) -> None:
    from worker import triage

    if fault == "bug":

        def broken(*_: Any) -> Any:
            raise RuntimeError("a bug that quotes Zq7secret")

        triage.classify_batch = broken  # type: ignore[assignment]
        return
    if fault == "hang":
        original = triage.Triage._produce
        count = [0]

        async def produce(self: Any, topic: str, key: bytes, value: bytes) -> Any:
            count[0] += 1
            if count[0] > HANG_AFTER:
                marker.write_text(str(count[0]), encoding="utf-8")  # noqa: ASYNC240
                await asyncio.sleep(3600)
            return await original(self, topic, key, value)

        triage.Triage._produce = produce  # type: ignore[method-assign]
        return
    raise SystemExit(f"unknown fault {fault!r}")


if __name__ == "__main__":
    plant(sys.argv[1], Path(sys.argv[2]))
    from worker.cli import cli

    cli(["run"], prog_name="triage")
