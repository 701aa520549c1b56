"""The officers' pages over HTTP (aiohttp's test client): sign-in, escaping, CSRF,
security headers, roles, CSV and the live-update stream."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from records import ReviewItem
from tests.e2e.site import (
    FAST_HASHER,
    NOW,
    PASSWORD,
    XSS_TEXT,
    ZONE,
    build_site,
    comment,
    make_users,
    verdict,
)
from worker.web.charts import stacked_bars
from worker.web.page_models import csv_cell, due_state, queue_order, safe_url
from worker.web.pages import PAGES_KEY

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def store(tmp_path):
    """Fresh accounts per test: the sign-in limiter counts in the same database."""
    return make_users(tmp_path, FAST_HASHER)


@pytest.fixture
def site(tmp_path, store):
    return build_site(tmp_path, users=store)


@pytest.fixture
async def client(site):
    async with TestClient(TestServer(site.app)) as test_client:
        yield test_client


async def csrf_token(client, path="/login"):
    response = await client.get(path)
    match = TOKEN.search(await response.text())
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def sign_in(client, user="olivia", password=PASSWORD, **headers):
    token = await csrf_token(client)
    return await client.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": token, "next": "/"},
        allow_redirects=False,
        headers=headers,
    )


async def test_pages_need_a_signed_in_user(client):
    """Every page and download sends a stranger to the sign-in page."""
    for path in (
        "/",
        "/items/i-rude",
        "/authors/facebook:a1",
        "/replies",
        "/reports",
        "/reports/volumes.csv",
        "/emergency",
        "/fragments/queue",
        "/events/queue",
    ):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/login?next=")


async def test_sign_in_sets_a_protected_session_cookie(client):
    """A correct password signs in with an HttpOnly, SameSite=Lax cookie and goes on."""
    response = await sign_in(client)
    assert response.status == 303
    assert response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert (await client.get("/")).status == 200


async def test_the_cookie_is_secure_behind_a_tls_proxy(client):
    """Behind a proxy that ended TLS the cookie is marked Secure."""
    response = await sign_in(client, **{"X-Forwarded-Proto": "https"})
    assert "Secure" in response.headers["Set-Cookie"]


async def test_a_wrong_password_is_refused(client):
    """A wrong password gets the form back with an error and no signed-in session."""
    response = await sign_in(client, password="not the password")
    assert response.status == 401
    assert "Enter a correct user name and password" in await response.text()
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_sign_in_attempts_are_rate_limited(client):
    """After five failures even the right password is refused for a while."""
    for _ in range(5):
        assert (await sign_in(client, password="wrong password!")).status == 401
    response = await sign_in(client)
    assert response.status == 429
    assert "Too many failed attempts" in await response.text()


async def test_sign_in_does_not_redirect_off_site(client):
    """A crafted next= address cannot send the officer to another site."""
    token = await csrf_token(client)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = await client.post(
            "/login",
            data={"username": "olivia", "password": PASSWORD, "csrf_token": token, "next": target},
            allow_redirects=False,
        )
        assert response.headers["Location"] == "/"
        token = await csrf_token(client, "/items/i-rude")


async def test_the_session_ends_at_sign_out(client):
    """After signing out the old cookie no longer works, even if replayed."""
    await sign_in(client)
    old_cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["triage_session"]
    token = await csrf_token(client, "/")
    response = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.headers["Location"] == "/login"
    client.session.cookie_jar.clear()
    replay = await client.get(
        "/", allow_redirects=False, headers={"Cookie": f"triage_session={old_cookie.value}"}
    )
    assert replay.status == 303


async def test_comment_text_is_escaped_and_bad_links_dropped(client):
    """Markup in a comment shows as text and a javascript: link is never rendered."""
    await sign_in(client)
    for path in ("/", "/items/i-rude", "/fragments/queue"):
        body = await (await client.get(path)).text()
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert "<img src=x" not in body
        assert "javascript:" not in body
    assert XSS_TEXT.startswith("You lot")


async def test_links_to_posts_carry_safe_rel(client):
    """Links to the platforms open without giving them the app's window or address."""
    await sign_in(client)
    body = await (await client.get("/")).text()
    links = re.findall(r'<a [^>]*href="https://facebook\.example[^"]*"[^>]*>', body)
    assert links
    assert all('rel="noopener noreferrer nofollow"' in link for link in links)


async def test_every_response_has_the_security_headers(client):
    """Pages, static files, redirects and errors carry the CSP and its companions."""
    await sign_in(client)
    for path in ("/", "/login", "/static/app/app.css", "/items/nope", "/reports/volumes.csv"):
        response = await client.get(path, allow_redirects=False)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp
        assert "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_tls_requests_get_strict_transport_security(client):
    """Behind a TLS proxy responses tell the browser to keep to TLS; plain ones do not."""
    tls = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert tls.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = await client.get("/login")
    assert "Strict-Transport-Security" not in plain.headers


async def test_pages_have_no_inline_script_or_style(client):
    """No page relies on inline script, event handler attributes or style attributes."""
    await sign_in(client)
    for path in (
        "/",
        "/items/i-rude",
        "/authors/facebook:a5",
        "/replies",
        "/reports",
        "/emergency",
        "/login",
    ):
        body = await (await client.get(path)).text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), path
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", body), path
        assert " style=" not in body, path


async def test_errors_are_shown_as_pages(client):
    """An unknown item gets a readable 404 page inside the app's layout."""
    await sign_in(client)
    response = await client.get("/items/no-such-item")
    assert response.status == 404
    body = await response.text()
    assert "Page not found" in body
    assert "Go to the review queue" in body


async def test_a_form_post_without_its_csrf_token_is_refused(client, site):
    """A decision without the session's CSRF token is refused and nothing is sent."""
    await sign_in(client)
    for data in ({"action": "hide"}, {"action": "hide", "csrf_token": "forged"}):
        response = await client.post("/items/i-rude/decision", data=data, allow_redirects=False)
        assert response.status == 403
    assert site.decisions.sent == []


async def test_the_api_needs_the_token_when_called_with_the_session(client, site):
    """A JSON change made with the browser session needs the X-CSRF-Token header."""
    await sign_in(client)
    body = {"item_id": "i-rude", "action": "hide"}
    refused = await client.post("/api/decisions", json=body)
    assert refused.status == 403
    assert (await refused.json())["error"] == "missing or invalid CSRF token"
    assert site.decisions.sent == []
    token = await csrf_token(client, "/")
    accepted = await client.post("/api/decisions", json=body, headers={"X-CSRF-Token": token})
    assert accepted.status < 300
    assert [d.action for d in site.decisions.sent] == ["hide"]


async def test_a_token_from_another_session_is_refused(client, site, store):
    """A token is bound to its session: one from another browser does not work."""
    async with TestClient(
        TestServer(build_site(site.ctx.settings.data_dir / "b", users=store).app)
    ) as other:
        await sign_in(other)
        foreign = await csrf_token(other, "/")
    await sign_in(client)
    response = await client.post(
        "/items/i-rude/decision", data={"action": "hide", "csrf_token": foreign}
    )
    assert response.status == 403


async def test_an_officer_decides_with_the_token(client, site):
    """With its token a decision goes through the moderation rules and back to the queue."""
    await sign_in(client)
    token = await csrf_token(client, "/")
    response = await client.post(
        "/items/i-rude/decision",
        data={"action": "hide", "csrf_token": token, "next": "/"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/?decided=hide"
    assert [(d.item_id, d.action, d.by) for d in site.decisions.sent] == [
        ("i-rude", "hide", "olivia")
    ]
    body = await (await client.get("/?decided=hide")).text()
    assert "Decision recorded: Hide" in body


async def test_a_refused_decision_explains_itself(client, site):
    """A police report without a reference comes back with the reason next to the field."""
    await sign_in(client)
    token = await csrf_token(client, "/items/i-rude")
    response = await client.post(
        "/items/i-rude/decision", data={"action": "report_police", "csrf_token": token}
    )
    assert response.status == 422
    body = await response.text()
    assert "There is a problem" in body
    assert 'href="#reference"' in body
    assert site.decisions.sent == []


async def test_a_viewer_sees_no_decision_buttons_and_cannot_decide(client, site):
    """A viewer reads the queue without buttons, and a forged decision is refused."""
    await sign_in(client, "victor")
    for path in ("/", "/items/i-rude"):
        body = await (await client.get(path)).text()
        assert "Pat Example" in body
        assert 'name="action"' not in body
    token = await csrf_token(client, "/")
    response = await client.post(
        "/items/i-rude/decision", data={"action": "hide", "csrf_token": token}
    )
    assert response.status == 403
    assert site.decisions.sent == []


async def test_an_officer_cannot_block_but_a_manager_can(client, site):
    """Blocking is for managers: the officer is refused, the manager's goes through."""
    await sign_in(client, "olivia")
    token = await csrf_token(client, "/")
    refused = await client.post(
        "/items/i-rude/decision", data={"action": "block", "csrf_token": token}
    )
    assert refused.status == 403
    await sign_in(client, "maya")
    token = await csrf_token(client, "/")
    accepted = await client.post(
        "/items/i-rude/decision",
        data={"action": "block", "csrf_token": token},
        allow_redirects=False,
    )
    assert accepted.status == 303
    assert [d.action for d in site.decisions.sent] == ["block"]


async def test_the_queue_shows_lanes_in_order(client):
    """Urgent comes first, then replies by deadline, then moderation."""
    await sign_in(client)
    body = await (await client.get("/")).text()
    positions = [
        body.index(marker)
        for marker in (
            'id="lane-urgent"',
            "Sam Resident",
            'id="lane-response"',
            "@binwatch",
            "Jo Driver",
            'id="lane-moderation"',
            "Rumour Mill",
            "Pat Example",
        )
    ]
    assert positions == sorted(positions)


async def test_a_long_lane_is_cut_short_with_a_count(client, site):
    """A lane with more items than fit shows the first ones and says how many follow."""
    base = site.state.items["i-rude"]
    for n in range(55):
        site.state.add_item(base.model_copy(update={"id": f"i-extra-{n}"}))
    await sign_in(client)
    body = await (await client.get("/")).text()
    assert 'Moderation <span class="triage-count">(57)</span>' in body
    assert "7 more in this lane" in body


async def test_the_author_page_shows_blocks_and_appeal_dates(client):
    """An author's page lists their block with the date an appeal may be made."""
    await sign_in(client)
    body = await (await client.get("/authors/facebook%3Aa5")).text()
    assert "Blocked since" in body
    assert "may appeal from" in body
    assert (await client.get("/authors/facebook%3Anobody")).status == 404


async def test_the_reply_board_shows_deadlines(client):
    """Open cases show working time left and their state; compliance figures are given."""
    await sign_in(client)
    body = await (await client.get("/replies")).text()
    assert "At risk" in body
    assert "On time" in body
    assert "1 of 1 within target" in body


async def test_volumes_download_as_csv(client):
    """The volumes report downloads as CSV with one row per day."""
    await sign_in(client)
    response = await client.get("/reports/volumes.csv?from=2026-11-23&to=2026-11-24")
    assert response.status == 200
    assert response.content_type == "text/csv"
    lines = (await response.text()).strip().splitlines()
    assert lines == [
        "day,service_request,abusive,misinformation,spam",
        "2026-11-23,0,0,0,0",
        "2026-11-24,3,1,1,0",
    ]
    bad = await client.get("/reports/volumes.csv?from=2026-01-01&to=2026-12-31")
    assert bad.status == 400


async def test_reply_compliance_shows_and_downloads(client):
    """The reply report (the SLA part's figures) shows per day and downloads as CSV."""
    await sign_in(client)
    response = await client.get("/reports/compliance.csv?from=2026-11-23&to=2026-11-24")
    assert response.status == 200
    assert response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    overall = {r["start"]: r for r in rows if r["channel"] == "all"}
    assert overall["2026-11-23"]["within_target"] == "1"
    assert overall["2026-11-23"]["within_target_pct"] == "100.0"
    assert overall["2026-11-24"]["received"] == "2"
    assert overall["2026-11-24"]["open"] == "2"
    page = await (await client.get("/reports?from=2026-11-23&to=2026-11-24")).text()
    assert "1 of 3 queries received in the period were answered within target" in page
    assert "Mon 23 Nov 2026" in page


async def test_only_a_manager_switches_emergency_mode(client, site):
    """An officer has no switch and is refused; a manager's switch is recorded with a reason."""
    await sign_in(client, "olivia")
    assert "Switch emergency mode on" not in await (await client.get("/emergency")).text()
    token = await csrf_token(client, "/emergency")
    refused = await client.post(
        "/emergency", data={"active": "true", "reason": "x", "csrf_token": token}
    )
    assert refused.status == 403
    await sign_in(client, "maya")
    token = await csrf_token(client, "/emergency")
    missing = await client.post("/emergency", data={"active": "true", "csrf_token": token})
    assert missing.status == 422
    done = await client.post(
        "/emergency", data={"active": "true", "reason": "Flooding", "csrf_token": token}
    )
    assert done.status == 200
    assert [(c.active, c.by, c.reason) for c in site.emergency] == [(True, "maya", "Flooding")]
    assert "Emergency mode is on" in await done.text()


async def test_the_event_stream_reports_queue_changes(client, site):
    """The stream sends the queue's counts, and again when an item closes."""
    site.app[PAGES_KEY].live_interval = 0.05
    await sign_in(client)
    response = await client.get("/events/queue")
    assert response.headers["Content-Type"] == "text/event-stream"

    async def next_event() -> str:
        while True:
            line: str = (await response.content.readline()).decode()
            if line.startswith("data: "):
                return line

    first = await asyncio.wait_for(next_event(), timeout=10)
    assert '"moderation":2' in first
    token = await csrf_token(client, "/")
    await client.post("/items/i-rude/decision", data={"action": "hide", "csrf_token": token})
    second = await asyncio.wait_for(next_event(), timeout=10)
    assert '"moderation":1' in second
    assert "Pat Example" not in second
    response.close()


def test_only_web_addresses_become_links() -> None:
    """javascript:, data: and relative URLs are dropped; http(s) ones are kept."""
    assert safe_url("https://x.example/p?q=1") == "https://x.example/p?q=1"
    for url in (
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,x",
        "/local",
        "https://",
        None,
        "",
    ):
        assert safe_url(url) is None


def test_spreadsheet_formulas_are_neutralised() -> None:
    """A CSV cell that a spreadsheet would run as a formula is prefixed with a quote."""
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell(12) == "12"


def test_replies_are_ordered_by_deadline() -> None:
    """In the response lane the soonest deadline comes first, whatever the arrival order."""
    items = [
        ReviewItem(
            id=f"i{n}",
            lane="response",
            comment=comment(f"c{n}", "q", minutes_ago=m),
            verdict=verdict(("service_request",), "response"),
            created_at=NOW - timedelta(minutes=m),
            due_at=NOW + timedelta(hours=h),
        )
        for n, m, h in ((1, 10, 5), (2, 300, 7), (3, 50, 1))
    ]
    assert [i.id for i in queue_order(items)["response"]] == ["i3", "i1", "i2"]


def test_deadline_states() -> None:
    """On time, at risk within the at-risk window, breached once past due."""
    risk = timedelta(hours=2)
    assert due_state(NOW + timedelta(hours=5), NOW, None, risk, ZONE)[1] == "On time"
    assert due_state(NOW + timedelta(hours=5), NOW, timedelta(hours=1), risk, ZONE)[1] == "At risk"
    assert due_state(NOW - timedelta(minutes=1), NOW, None, risk, ZONE)[1] == "Breached"


def test_bars_are_drawn_to_scale() -> None:
    """A bar twice the value of another is twice as tall, stacked on the same baseline."""
    chart = stacked_bars(["a", "b"], [("x", "c1", [2.0, 4.0]), ("y", "c2", [0.0, 2.0])])
    first, second, third = chart.bars
    assert second.height == pytest.approx(2 * first.height)
    assert third.y + third.height == pytest.approx(second.y)
    assert first.y + first.height == pytest.approx(chart.baseline)


async def test_times_are_shown_in_the_policys_time_zone(tmp_path, store):
    """With a policy naming another zone, the queue, replies and reports show its local
    times and days, not London's."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("working_time:\n  timezone: Asia/Tokyo\n", encoding="utf-8")
    tokyo = build_site(tmp_path / "t", users=store, policy=policy)
    assert tokyo.ctx.zone == ZoneInfo("Asia/Tokyo")
    london = build_site(tmp_path / "l", users=store)
    shown: dict[str, str] = {}
    for name, site in (("tokyo", tokyo), ("london", london)):
        async with TestClient(TestServer(site.app)) as client:
            await sign_in(client)
            shown[name] = await (await client.get("/")).text()
            shown[name] += await (await client.get("/replies")).text()
    # NOW is 10:00 UTC: 19:00 in Tokyo, 10:00 in London (GMT); the sample posts are
    # from the hour before.
    assert re.search(r"Tue 24 Nov 2026, 1[89]:\d\d", shown["tokyo"])
    assert not re.search(r"Tue 24 Nov 2026, 0\d:\d\d", shown["tokyo"])
    assert re.search(r"Tue 24 Nov 2026, 0\d:\d\d", shown["london"])
