"""The officers' app served by a real worker on the embedded broker, in headless Chromium:
the demo's comments go in on Kafka, the queue fills from triage.review, a decision goes
out on triage.decisions, and the moderation agent's record shows on the author's page.

The classifier is a stand-in that returns the demo's expected labels (the pipeline and
the pages are under test here, not the model)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import async_playwright, expect

from records import Comment, Reason, Verdict
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from tests.e2e.site import PASSWORD, make_users
from tests.polling import until
from worker.demo import SAMPLE_FEED, SAMPLE_FEED_LABELS
from worker.web.app import create_web_app

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WAIT_S = 60.0
# One demo comment of each kind: flooding (urgent and a reply due), a bin question,
# abuse, misinformation and spam.
DEMO_IDS = {
    "flood": "8025791740890034_4060077229481804",
    "bins": "8718039692338118_7705905181410232",
    "abuse": "8718039692338118_9014873286916229",
    "misinformation": "8718039692338118_5639013238192962",
    "spam": "1870000523200000011",
}
URGENT_WORDS = re.compile(r"flood|fire|danger|emergency", re.IGNORECASE)


def demo_comments(now: datetime) -> list[Comment]:
    wanted = set(DEMO_IDS.values())
    comments = []
    for line in SAMPLE_FEED.read_text(encoding="utf-8").splitlines():
        template = json.loads(line)
        if template["id"] not in wanted:
            continue
        at = now + timedelta(minutes=template.pop("offset_minutes"))
        comments.append(Comment.model_validate({**template, "created_at": at, "received_at": at}))
    assert len(comments) == len(wanted)
    return comments


class DemoLabels:
    """Gives each demo comment its expected labels, with lanes as the policy would."""

    def __init__(self) -> None:
        self.labels = {
            row["id"]: tuple(row["labels"])
            for row in map(json.loads, SAMPLE_FEED_LABELS.read_text(encoding="utf-8").splitlines())
        }

    def classify(self, batch: Sequence[Comment]) -> list[Verdict]:
        return [self._one(c) for c in batch]

    def _one(self, comment: Comment) -> Verdict:
        labels: tuple[Any, ...] = self.labels.get(comment.id, ())
        lanes: list[Any] = []
        if "service_request" in labels and URGENT_WORDS.search(comment.text):
            lanes.append("urgent")
        if "service_request" in labels:
            lanes.append("response")
        if set(labels) & {"abusive", "misinformation", "spam"}:
            lanes.append("moderation")
        scores = {
            c: 0.9 if c in labels else 0.05
            for c in ("service_request", "abusive", "misinformation", "spam")
        }
        return Verdict(
            labels=labels,
            scores=scores,
            reasons=tuple(Reason(code=label, clause=f"demo: {label}") for label in labels),
            lane=lanes[0] if lanes else None,
            lanes=tuple(lanes),
            model={"demo-labels": "1"},
        )


async def test_an_officer_works_the_demo_queue_of_a_running_worker(
    running_worker: Any, produce: Any, tmp_path: Path
) -> None:
    """The demo's items appear in their lanes; hiding one closes it and records it."""
    make_users(tmp_path)
    worker = await running_worker(
        classifier=DemoLabels(),
        data_dir=tmp_path,
        session_secret="e2e-" + "s" * 40,
    )
    comments = demo_comments(datetime.now(UTC))
    await produce(worker.topics.comments, comments, key=lambda c: c.conversation_key)
    review = worker.ctx.views.review
    await until(lambda: len(review.items()) >= 6, "the review items")

    runner = web.AppRunner(create_web_app(worker.ctx), shutdown_timeout=2.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(20_000)
            dialogs: list[str] = []
            page.on("dialog", lambda d: dialogs.append(d.message))
            await page.goto(base + "/login")
            await page.get_by_label("User name").fill("olivia")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(base + "/")

            def lane(name: str) -> Any:
                return page.locator(f"section[aria-labelledby='lane-{name}'] article")

            await expect(lane("urgent")).to_have_count(1)
            await expect(lane("urgent")).to_contain_text("Icknield Way East")
            await expect(lane("response")).to_have_count(2)
            await expect(lane("response").first).to_contain_text("Royston rounds")
            await expect(lane("moderation")).to_have_count(3)
            for text in ("parasites", "5G antennas", "crypto signals"):
                await expect(lane("moderation").filter(has_text=text)).to_have_count(1)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "real-worker-queue.png"), full_page=True)

            abuse = lane("moderation").filter(has_text="parasites")
            await abuse.get_by_role("button", name=re.compile("^Hide")).click()
            await expect(page.get_by_role("alert")).to_contain_text("Decision recorded: Hide")
            await expect(lane("moderation").filter(has_text="parasites")).to_have_count(0)
            await expect(lane("moderation")).to_have_count(2)

            # The moderation agent writes the audit record; the author's page shows it.
            await page.goto(base + "/authors/facebook%3A9194698096615533")
            history = page.locator("#author-history")
            deadline = time.monotonic() + WAIT_S
            while await history.count() == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                await page.reload()
            await expect(history).to_contain_text("Hide")
            await expect(history).to_contain_text("olivia")
            await page.screenshot(path=str(SCREENSHOTS / "real-worker-author.png"), full_page=True)
            assert dialogs == []
            await browser.close()
    finally:
        await runner.cleanup()
