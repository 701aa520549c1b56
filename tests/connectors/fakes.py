"""Local fakes of the polled platforms, on 127.0.0.1, answering as their API references show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


class FakeTime:
    """A wall clock that moves only when the code under test sleeps."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(seconds, 0.0)


@dataclass
class Scripted:
    """Answers to give before the real one: (status, headers) pairs, used up in order."""

    queue: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def next(self) -> web.Response | None:
        if not self.queue:
            return None
        status, headers = self.queue.pop(0)
        return web.json_response(
            {"title": "scripted", "status": status}, status=status, headers=headers
        )


def _newer(items: list[dict[str, Any]], since: str | None) -> list[dict[str, Any]]:
    key = lambda i: (len(i["id"]), i["id"])  # noqa: E731
    newer = [i for i in items if since is None or key(i) > (len(since), since)]
    return sorted(newer, key=key, reverse=True)  # both APIs list newest first


class FakeX:
    """X API v2 user timelines: /2/users/:id/mentions and /2/users/:id/tweets, newest first,
    with ``since_id`` and ``until_id`` (both exclusive) and ``pagination_token`` paging."""

    def __init__(self, token: str, time: FakeTime) -> None:
        self.token = token
        self.time = time
        self.mentions: list[dict[str, Any]] = []
        self.tweets: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.script = Scripted()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/2/users/{id}/mentions", lambda r: self._timeline(r, self.mentions))
        app.router.add_get("/2/users/{id}/tweets", lambda r: self._timeline(r, self.tweets))
        return app

    def _headers(self) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": "449",
            "x-rate-limit-reset": str(int(self.time.now()) + 900),
        }

    async def _timeline(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"title": "Unauthorized", "status": 401}, status=401)
        scripted = self.script.next()
        if scripted is not None:
            return scripted
        newer = _newer(items, request.query.get("since_id"))
        until = request.query.get("until_id")
        if until is not None:  # exclusive, like since_id
            newer = [i for i in newer if (len(i["id"]), i["id"]) < (len(until), until)]
        size = int(request.query.get("max_results", "10"))
        start = int(request.query.get("pagination_token", "0"))
        page = newer[start : start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if start + size < len(newer):
            meta["next_token"] = str(start + size)
        body: dict[str, Any] = {"meta": meta}
        if page:  # X leaves data and includes out when nothing matched
            body["data"] = page
            authors = {t["author_id"] for t in page}
            body["includes"] = {
                "users": [self.users[a] for a in sorted(authors) if a in self.users]
            }
        return web.json_response(body, headers=self._headers())


class FakeMastodon:
    """Mastodon's /api/v1/notifications and /api/v1/accounts/:id/statuses."""

    def __init__(self, token: str, account_id: str) -> None:
        self.token = token
        self.account_id = account_id
        self.notifications: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.script = Scripted()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/notifications", self._notifications)
        app.router.add_get("/api/v1/accounts/{id}/statuses", self._statuses)
        return app

    def _check(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.path, dict(request.query)))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        return self.script.next()

    def _page(self, request: web.Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = int(request.query.get("limit", "20"))
        min_id = request.query.get("min_id")
        newer = _newer(items, min_id)
        # min_id gives the page just after it (the oldest of the newer ones), newest first.
        return newer[-limit:] if min_id else newer[:limit]

    async def _notifications(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        wanted = request.query.getall("types[]", [])
        items = [n for n in self.notifications if not wanted or n["type"] in wanted]
        return web.json_response(self._page(request, items))

    async def _statuses(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        if request.match_info["id"] != self.account_id:
            return web.json_response({"error": "Record not found"}, status=404)
        return web.json_response(self._page(request, self.statuses))


async def serve_fake(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"
