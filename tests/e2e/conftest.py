"""Browser tests: headless Chromium (the system's) driven by Playwright, against the
officers' app served on a free loopback port from a thread of its own.

Fixtures: ``chromium`` (one browser per module), ``site`` (a fresh app with the
sample records, served), ``page`` (a new browser page, closed afterwards), ``signed_in``
(a page signed in as a given user), ``shot`` (saves a screenshot under
test-output/screenshots/), ``axe`` (runs axe-core from node_modules on a page).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.site import FAST_HASHER, PASSWORD, Site, build_site, make_users

# The worker fixtures (a real worker on the session broker) for test_real_worker.py.
from tests.integration.conftest import produce, running_worker  # noqa: F401
from worker.users import UserStore
from worker.web.pages import PAGES_KEY

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("TRIAGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000


@dataclass
class Served:
    site: Site
    url: str
    loop: asyncio.AbstractEventLoop

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop (views are not thread-safe) and wait for it."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)


class ServerThread:
    """An aiohttp app on 127.0.0.1:<free port>, on its own event loop in a thread."""

    def __init__(self, app: web.Application):
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="web-under-test", daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._stop())
        self.loop.close()

    async def _start(self):
        self._runner = web.AppRunner(self.app, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self):
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._started.wait(timeout=30):
            raise RuntimeError("the web app did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """The system Chromium, headless, for one test module.

    Not for the session: Playwright's sync API holds an event loop in this thread while
    it is open, and asyncio tests in later modules could not start their own.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install the chromium package (apt-get install "
            "chromium) or set TRIAGE_TEST_CHROMIUM"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def user_store(tmp_path: Path) -> UserStore:
    """The test accounts, fresh per test: the sign-in limiter counts in their database."""
    return make_users(tmp_path, FAST_HASHER)


@pytest.fixture
def serve(tmp_path: Path, user_store: UserStore) -> Iterator[Callable[..., Served]]:
    """Starts a fresh app over the sample records; keyword arguments go to build_site."""
    threads: list[ServerThread] = []

    def start(**options: Any) -> Served:
        site = build_site(tmp_path, users=user_store, **options)
        thread = ServerThread(site.app).__enter__()
        threads.append(thread)
        site.app[PAGES_KEY].live_interval = 0.2
        return Served(site, f"http://127.0.0.1:{thread.port}", thread.loop)

    yield start
    for thread in threads:
        thread.__exit__()


@pytest.fixture
def served(serve: Callable[..., Served]) -> Served:
    return serve()


@pytest.fixture
def new_page(chromium: Any) -> Iterator[Callable[..., Any]]:
    """Opens pages in fresh browser contexts (own cookies); closes them afterwards."""
    contexts: list[Any] = []

    def open_page(**context_options: Any) -> Any:
        context = chromium.new_context(viewport={"width": 1200, "height": 900}, **context_options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.console_messages = []  # type: ignore[attr-defined]
        page.on("console", lambda m: page.console_messages.append(f"{m.type}: {m.text}"))
        page.dialogs = []  # type: ignore[attr-defined]
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        return page

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page: Any, base: str, user: str, password: str = PASSWORD) -> None:
    page.goto(base + "/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")


@pytest.fixture
def signed_in(served: Served, new_page: Callable[..., Any]) -> Callable[..., Any]:
    """A page signed in as the named user (olivia: officer, victor: viewer, maya: manager)."""

    def make(user: str = "olivia", **context_options: Any) -> Any:
        page = new_page(**context_options)
        sign_in(page, served.url, user)
        return page

    return make


@pytest.fixture(scope="session")
def screenshots() -> Path:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


@pytest.fixture
def shot(screenshots: Path) -> Callable[[Any, str], Path]:
    """Saves a full-page screenshot as test-output/screenshots/<name>.png."""

    def take(page: Any, name: str) -> Path:
        path = screenshots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def run_axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page (the page's context must allow the injection)."""
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` at the repository root")
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Every axe-core violation on the page, WCAG 2.2's target-size rule switched on (axe
    leaves it off unless asked); the page's context must allow the injection."""
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` at the repository root")
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations'],"
        " rules: {'target-size': {enabled: true}}})"
    )
    ran = {r["id"] for kind in ("passes", "violations", "incomplete") for r in result[kind]}
    assert "target-size" in ran  # the rule did run on the page's controls
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]
