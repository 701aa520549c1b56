"""Sign-in and sessions over HTTP: attempts counted before the hash, addresses behind
trusted proxies, sessions that end everywhere, idle and absolute timeouts, Secure cookies,
and no-store on every answer that needs an account."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import timedelta
from ipaddress import ip_network

import pytest
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from argon2 import PasswordHasher
from sqlalchemy import text

from tests.e2e.site import PASSWORD, USERS, build_site
from tests.unit.test_pages import csrf_token, sign_in
from worker.db import Database
from worker.users import UserStore
from worker.web.proxies import client_address
from worker.web.session import COOKIE_NAME

FAST = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def users_at(database: Database) -> UserStore:
    store = UserStore(database, hasher=FAST)
    for name, role in USERS.items():
        store.add(name, role, PASSWORD)
    return store


@pytest.fixture
def store(database):
    """The test accounts, in SQLite and then in PostgreSQL."""
    return users_at(database)


@pytest.fixture
def other_process(store):
    """Factory of stores on their own engine and connections, as other processes have."""
    made: list[Database] = []

    def make() -> UserStore:
        made.append(Database(store.database.url.render_as_string(hide_password=False)))
        return UserStore(made[-1], hasher=FAST)

    yield make
    for database in made:
        database.close()


async def start(site) -> TestClient:
    client = TestClient(TestServer(site.app))
    await client.start_server()
    return client


@pytest.fixture
async def served(tmp_path, store):
    """A factory of app instances (settings as keyword arguments) sharing one users file."""
    clients: list[TestClient] = []

    async def make(name: str = "a", users: UserStore | None = None, **settings):
        site = build_site(tmp_path / name, users=users or store, **settings)
        client = await start(site)
        clients.append(client)
        return site, client

    yield make
    for client in clients:
        await client.close()


def session_cookie(client: TestClient) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE_NAME].value


async def status_with(client: TestClient, cookie: str, path: str = "/") -> int:
    """The status of a GET made with only this cookie (no jar)."""
    client.session.cookie_jar.clear()
    response = await client.get(
        path, allow_redirects=False, headers={"Cookie": f"{COOKIE_NAME}={cookie}"}
    )
    return response.status


@pytest.mark.parametrize(
    ("names", "forwarded", "evaluated"),
    [
        pytest.param(["olivia"] * 60, None, 5, id="one-name-one-address"),
        pytest.param([f"user{n}" for n in range(60)], None, 30, id="many-names-one-address"),
        pytest.param(["olivia"] * 60, [f"198.51.100.{n}" for n in range(60)], 20, id="many-ips"),
    ],
)
async def test_parallel_wrong_passwords_evaluate_at_most_the_limit(
    served, store, monkeypatch, names, forwarded, evaluated
):
    """Sixty wrong passwords sent together: only as many are hashed as the limit allows."""
    _, client = await served(trusted_proxies="127.0.0.1")
    calls: list[str] = []
    verify = store.verify_password

    def counting(name, password):
        calls.append(name)
        return verify(name, password)

    monkeypatch.setattr(store, "verify_password", counting)
    token = await csrf_token(client)

    async def attempt(i: int) -> int:
        headers = {"X-Forwarded-For": forwarded[i]} if forwarded else {}
        data = {"username": names[i], "password": "wrong password!", "csrf_token": token}
        response = await client.post("/login", data=data, headers=headers, allow_redirects=False)
        return response.status

    statuses = Counter(await asyncio.gather(*(attempt(i) for i in range(60))))
    assert len(calls) == evaluated
    assert statuses == {401: evaluated, 429: 60 - evaluated}


async def test_a_trusted_proxy_gives_each_client_its_own_limit(served):
    """Behind a trusted proxy the limit follows X-Forwarded-For; from others it is ignored."""
    _, behind = await served("behind", trusted_proxies="127.0.0.0/8")
    for _ in range(5):
        wrong = await sign_in(behind, password="wrong password!", **{"X-Forwarded-For": "1.2.3.4"})
        assert wrong.status == 401
    locked = await sign_in(behind, **{"X-Forwarded-For": "1.2.3.4"})
    assert locked.status == 429
    other = await sign_in(behind, **{"X-Forwarded-For": "5.6.7.8, 127.0.0.1"})
    assert other.status == 303
    # Without trusted proxies a client cannot dodge the limit by inventing addresses.
    _, direct = await served("direct")
    for n in range(5):
        spoofed = {"X-Forwarded-For": f"9.9.9.{n}"}
        assert (await sign_in(direct, password="wrong password!", **spoofed)).status == 401
    assert (await sign_in(direct, **{"X-Forwarded-For": "9.9.9.99"})).status == 429


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", ["1.2.3.4"], "203.0.113.9"),  # not a proxy: its header is ignored
        ("10.0.0.1", [], "10.0.0.1"),
        ("10.0.0.1", ["1.2.3.4"], "1.2.3.4"),
        ("10.0.0.1", ["6.6.6.6, 1.2.3.4, 10.0.0.7"], "1.2.3.4"),  # right-most untrusted
        ("10.0.0.1", ["6.6.6.6", "1.2.3.4"], "1.2.3.4"),  # several headers read as one list
        ("10.0.0.1", ["10.0.0.8, 10.0.0.7"], "10.0.0.8"),  # all proxies: the furthest
        ("10.0.0.1", ["1.2.3.4, not-an-address"], "10.0.0.1"),
        ("::1", ["2001:db8::5"], "2001:db8::5"),
    ],
)
def test_the_client_address_behind_trusted_proxies(peer, forwarded, expected):
    """X-Forwarded-For is read only from a trusted peer, from the right, to the first stranger."""
    headers = [("X-Forwarded-For", value) for value in forwarded]
    from multidict import CIMultiDict

    request = make_mocked_request("GET", "/", headers=CIMultiDict(headers)).clone(remote=peer)
    trusted = (ip_network("10.0.0.0/8"), ip_network("::1/128"))
    assert client_address(request, trusted) == expected
    assert client_address(request, ()) == peer


async def test_sign_out_ends_the_session_in_every_instance(served, other_process):
    """A cookie signed out on one instance fails on another sharing the database, and after
    a restart."""
    _, first = await served("first")
    # A second instance with its own engine on the same database, as another process.
    _, second = await served("second", users=other_process())
    assert (await sign_in(first)).status == 303
    cookie = session_cookie(first)
    assert await status_with(second, cookie) == 200
    page = await second.get("/", headers={"Cookie": f"{COOKIE_NAME}={cookie}"})
    token = TOKEN.search(await page.text()).group(1)
    out = await second.post(
        "/logout",
        data={"csrf_token": token},
        headers={"Cookie": f"{COOKIE_NAME}={cookie}"},
        allow_redirects=False,
    )
    assert out.status == 303
    assert await status_with(first, cookie) == 303
    _, restarted = await served("restarted", users=other_process())
    assert await status_with(restarted, cookie) == 303
    assert (await sign_in(restarted)).status == 303


async def test_two_apps_on_one_database_share_sessions_sign_outs_tokens_and_the_limit(
    served, store, other_process
):
    """Two officers' apps on one database, each with its own engine as two processes have:
    a session made on one works on the other, a sign-out on one ends it on both, a token
    works on both, and failed sign-ins on both count towards one limit."""
    _, first = await served("first")
    _, second = await served("second", users=other_process())
    assert (await sign_in(first)).status == 303
    cookie = session_cookie(first)
    assert await status_with(second, cookie) == 200
    assert await status_with(first, cookie) == 200

    page = await second.get("/", headers={"Cookie": f"{COOKIE_NAME}={cookie}"})
    token = TOKEN.search(await page.text()).group(1)
    out = await second.post(
        "/logout",
        data={"csrf_token": token},
        headers={"Cookie": f"{COOKIE_NAME}={cookie}"},
        allow_redirects=False,
    )
    assert out.status == 303
    assert await status_with(first, cookie) == 303
    assert await status_with(second, cookie) == 303

    api_token = {"Authorization": f"Bearer {store.issue_token('maya')}"}
    for client in (first, second):
        client.session.cookie_jar.clear()
        assert (await client.get("/api/review", headers=api_token)).status == 200
    store.remove("maya")
    for client in (first, second):
        assert (await client.get("/api/review", headers=api_token)).status == 401

    for client in (first, second, first, second, first):
        assert (await sign_in(client, user="victor", password="wrong password!")).status == 401
    # The sixth try is refused on either app, even with the right password.
    assert (await sign_in(second, user="victor")).status == 429
    assert (await sign_in(first, user="victor")).status == 429


async def test_sign_in_without_a_usable_database_answers_503(served, store):
    """When the accounts database fails, the sign-in form says so (503), showing no error
    detail, and nothing else breaks."""
    _, client = await served()
    with store.database.write() as session:
        session.execute(text("DROP TABLE sign_in_attempts"))
    response = await sign_in(client)
    assert response.status == 503
    page = await response.text()
    assert "not possible just now" in page
    assert "sign_in_attempts" not in page
    assert "Traceback" not in page


async def test_a_new_password_and_the_cli_end_sessions(served, store):
    """A changed password, or `triage users sign-out`'s call, ends the user's sessions."""
    _, client = await served()
    await sign_in(client)
    cookie = session_cookie(client)
    store.set_password("olivia", "another long password")
    assert await status_with(client, cookie) == 303
    assert (await sign_in(client, password="another long password")).status == 303
    cookie = session_cookie(client)
    store.end_sessions("olivia")
    assert await status_with(client, cookie) == 303


async def test_a_re_added_user_does_not_get_old_cookies_back(served, store):
    """Removing a user and adding the name again leaves the old account's cookies dead."""
    _, client = await served()
    await sign_in(client)
    cookie = session_cookie(client)
    store.remove("olivia")
    assert await status_with(client, cookie) == 303
    store.add("olivia", "officer", PASSWORD)
    assert await status_with(client, cookie) == 303
    assert (await sign_in(client)).status == 303


async def test_an_idle_session_ends_and_activity_keeps_it(served):
    """Requests move the idle timeout on; background refreshes do not; the lifetime is firm."""
    site, client = await served(web_session_idle_minutes=30)
    clock = site.clock
    await sign_in(client)
    clock.advance(timedelta(minutes=29))
    page = await client.get("/", allow_redirects=False)
    assert page.status == 200
    assert COOKIE_NAME in page.cookies  # re-issued with the new activity time
    clock.advance(timedelta(minutes=29))
    assert (await client.get("/", allow_redirects=False)).status == 200
    # The queue's own refreshes are no activity.
    clock.advance(timedelta(minutes=20))
    background = await client.get("/fragments/queue", allow_redirects=False)
    assert background.status == 200
    assert COOKIE_NAME not in background.cookies
    clock.advance(timedelta(minutes=11))  # 31 minutes after the last page
    assert (await client.get("/", allow_redirects=False)).status == 303
    # Active all along, a session still ends at its lifetime (an hour here) after sign-in.
    site, client = await served("short", web_session_lifetime_hours=1)
    clock = site.clock
    await sign_in(client)
    for _ in range(2):
        clock.advance(timedelta(minutes=25))
        assert (await client.get("/", allow_redirects=False)).status == 200
    clock.advance(timedelta(minutes=10))
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_the_live_stream_ends_with_the_session(served, store):
    """An open queue stream closes once its user's sessions have been ended."""
    _, client = await served()
    await sign_in(client)
    async with client.get("/events/queue") as stream:
        assert stream.status == 200
        await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 10)
        store.end_sessions("olivia")
        # Read to the end: without the server closing it, this would time out.
        await asyncio.wait_for(stream.content.read(), 10)
        assert stream.content.at_eof()


async def test_secure_cookies_can_be_forced(served):
    """With TRIAGE_SECURE_COOKIES the cookie is Secure and HSTS is sent even over plain HTTP."""
    _, client = await served(secure_cookies=True)
    # (A browser would not send this cookie back over plain HTTP: that is the point.)
    response = await client.get("/login")
    assert "Secure" in response.headers["Set-Cookie"]
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    _, plain = await served("plain")
    assert "Strict-Transport-Security" not in (await plain.get("/login")).headers


def _path(canonical: str) -> str:
    return canonical.replace("{item_id}", "i-rude").replace("{author_key}", "facebook:a1")


async def test_every_authenticated_answer_is_no_store(served):
    """Every route of the app (pages, JSON, CSV, streams) answers with Cache-Control: no-store."""
    site, client = await served()
    await sign_in(client, user="maya")
    token = await csrf_token(client, "/")
    routes = sorted(
        {
            (route.method, _path(route.resource.canonical))
            for route in site.app.router.routes()
            if route.method in ("GET", "POST") and route.resource is not None
        },
        key=lambda r: r[1] == "/logout",  # signing out last
    )
    checked = []
    for method, path in routes:
        if path.startswith("/static/"):
            continue
        body = {"item_id": "i-rude", "action": "warn"} if path.startswith("/api/") else None
        async with client.request(
            method,
            path,
            json=body,
            data=None if body else {"csrf_token": token},
            headers={"X-CSRF-Token": token},
            allow_redirects=False,
        ) as response:
            assert response.headers.get("Cache-Control") == "no-store", (method, path)
            checked.append((method, path, response.status, response.content_type))
    kinds = {content_type for *_, content_type in checked}
    assert {"text/html", "application/json", "text/csv", "text/event-stream"} <= kinds
    assert len(checked) >= 25
    static = await client.get("/static/app/" + next(iter(_static_files(site))))
    assert static.status == 200
    assert static.headers.get("Cache-Control") != "no-store"


def _static_files(site):
    from worker.web.pages import STATIC_DIR

    return sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file())
