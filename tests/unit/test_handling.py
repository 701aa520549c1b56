"""Assignment, internal notes, presence and the queue's filters in the officers' app and
API (aiohttp's test client over the sample site; handling records folded at once)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer

from records.handling import HandlingRecord
from records.moderation import Decision
from tests.e2e.site import FAST_HASHER, NOW, PASSWORD, build_site, make_users
from worker.handling.filters import FilterError, QueueFilter, parse_filter
from worker.handling.state import HandlingState
from worker.web.pages import queue_snapshot

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def site(tmp_path):
    return build_site(tmp_path, users=make_users(tmp_path, FAST_HASHER))


async def signed_in(site, user="olivia") -> tuple[TestClient, str]:
    client = TestClient(TestServer(site.app))
    await client.start_server()
    match = TOKEN.search(await (await client.get("/login")).text())
    assert match
    response = await client.post(
        "/login",
        data={"username": user, "password": PASSWORD, "csrf_token": match.group(1), "next": "/"},
        allow_redirects=False,
    )
    assert response.status == 303
    page = await (await client.get("/")).text()
    token = TOKEN.search(page)
    assert token
    return client, token.group(1)


@pytest.fixture
async def olivia(site):
    client, token = await signed_in(site, "olivia")
    client.headers = {"X-CSRF-Token": token}  # type: ignore[attr-defined]
    yield client
    await client.close()


async def post(client, path, body):
    return await client.post(path, json=body, headers=client.headers)


def test_the_filter_is_read_from_the_address_and_bad_values_are_named():
    """'mine' becomes the user's name; an unknown lane, label or odd name is refused."""
    where = parse_filter({"assignee": "mine", "label": "abusive", "lane": "moderation"}, "olivia")
    assert where == QueueFilter(lane="moderation", assignee="olivia", label="abusive")
    assert parse_filter({}, "olivia").active is False
    for query, word in (
        ({"lane": "fast"}, "lane"),
        ({"label": "rude"}, "label"),
        ({"assignee": "no one!"}, "assignee"),
        ({"channel": "x" * 201}, "channel"),
    ):
        with pytest.raises(FilterError, match=word):
            parse_filter(query, "olivia")


def test_the_last_assignment_counts_and_an_erasure_blanks_notes():
    """An item's assignee is its last assign or unassign; a repeat id is applied once;
    erasing the author blanks the notes, later ones too, and keeps the assignments."""
    state = HandlingState()

    def record(i: int, kind, **extra) -> HandlingRecord:
        return HandlingRecord(
            id=f"h-{i}", kind=kind, item_id="i-1", lane="moderation", by="maya",
            at=NOW + timedelta(minutes=i), author_key="facebook:a1", **extra,
        )  # fmt: skip

    state.add(record(1, "assign", assignee="olivia"))
    assert state.current("i-1").assignee == "olivia"
    state.add(record(2, "unassign"))
    assert state.current("i-1") is None
    state.add(record(3, "assign", assignee="maya"))
    state.add(record(1, "assign", assignee="olivia"))  # a repeat: ignored
    assert state.current("i-1").assignee == "maya"
    state.add(record(4, "note", text="Pat rang about this"))
    state.erase("facebook:a1")
    state.add(record(5, "note", text="Pat again"))
    assert [r.text for r in state.by_item["i-1"] if r.kind == "note"] == ["[erased]"] * 2
    assert state.current("i-1").assignee == "maya"


async def test_an_officer_assigns_reassigns_and_unassigns_with_the_history_kept(olivia, site):
    """Assigning to oneself, then to a manager, then taking it off: each is a record
    with who and when, and the item's handling shows the current one and the history."""
    first = await post(olivia, "/api/review/i-rude/assignment", {"assignee": "olivia"})
    assert first.status == 201
    assert (await first.json())["record"]["assignee"] == "olivia"
    site.clock.advance(timedelta(minutes=5))
    assert (await post(olivia, "/api/review/i-rude/assignment", {"assignee": "maya"})).status == 201
    handling = await (await olivia.get("/api/review/i-rude/handling")).json()
    assert handling["assignment"]["assignee"] == "maya"
    assert handling["assignment"]["by"] == "olivia"
    assert (await post(olivia, "/api/review/i-rude/assignment", {"assignee": None})).status == 201
    handling = await (await olivia.get("/api/review/i-rude/handling")).json()
    assert handling["assignment"] is None
    assert [(r["kind"], r["assignee"], r["by"]) for r in handling["history"]] == [
        ("assign", "olivia", "olivia"),
        ("assign", "maya", "olivia"),
        ("unassign", None, "olivia"),
    ]
    times = [r["at"] for r in handling["history"]]
    assert times[0] == NOW.isoformat()
    assert times[1] == (NOW + timedelta(minutes=5)).isoformat()


async def test_assignments_are_refused_with_a_reason(olivia, site):
    """Unknown officer, a viewer as assignee, a closed item, an unknown item and unknown
    fields are refused; a retry with the same id is one record, other content 409."""
    cases = [
        ("i-rude", {"assignee": "nobody"}, 422, "no officer"),
        ("i-rude", {"assignee": "victor"}, 422, "viewer"),
        ("i-none", {"assignee": "olivia"}, 404, "no such"),
        ("i-rude", {"assignee": "olivia", "colour": "red"}, 400, "unknown fields"),
        ("i-rude", {"assignee": 3}, 400, "must be a string"),
        ("i-rude", {"assignee": "olivia", "id": "bad key!"}, 422, "retry key"),
    ]
    for item, body, status, words in cases:
        response = await post(olivia, f"/api/review/{item}/assignment", body)
        assert response.status == status, body
        assert words in (await response.json())["error"]
    rude = site.state.items["i-rude"]
    site.state.add_decision(
        Decision(
            id="d-close", item_id="i-rude", lane="moderation", action="hide", by="maya",
            role="manager", decided_at=NOW, author_key=rude.comment.author_key,
        )
    )  # fmt: skip
    closed = await post(olivia, "/api/review/i-rude/assignment", {"assignee": "olivia"})
    assert closed.status == 409
    once = {"assignee": "olivia", "id": "click-1"}
    assert (await post(olivia, "/api/review/i-fake/assignment", once)).status == 201
    again = await post(olivia, "/api/review/i-fake/assignment", once)
    assert again.status == 200
    assert (await again.json())["repeat"] is True
    other = await post(olivia, "/api/review/i-fake/assignment", {**once, "assignee": "maya"})
    assert other.status == 409
    assert len(site.handling.by_id) == 1


async def test_a_viewer_can_read_but_not_assign_or_note(site):
    """A viewer is refused assignment and notes with 403."""
    client, token = await signed_in(site, "victor")
    try:
        for path, body in (
            ("/api/review/i-rude/assignment", {"assignee": "olivia"}),
            ("/api/review/i-rude/notes", {"text": "hello"}),
        ):
            response = await client.post(path, json=body, headers={"X-CSRF-Token": token})
            assert response.status == 403
        assert (await client.get("/api/review/i-rude/handling")).status == 200
    finally:
        await client.close()
    assert site.handling.by_id == {}


async def test_notes_are_kept_shown_escaped_and_never_empty(olivia, site):
    """A note is recorded with its author and shown escaped on the item page; an empty or
    over-long note is refused, and the page form shows its error."""
    text = "Rang Pat <b>back</b>: will call again"
    assert (await post(olivia, "/api/review/i-rude/notes", {"text": text})).status == 201
    assert (await post(olivia, "/api/review/i-rude/notes", {"text": "  "})).status == 422
    long = await post(olivia, "/api/review/i-rude/notes", {"text": "x" * 2001})
    assert long.status == 422
    handling = await (await olivia.get("/api/review/i-rude/handling")).json()
    assert [(n["by"], n["text"]) for n in handling["notes"]] == [("olivia", text)]
    page = await (await olivia.get("/items/i-rude")).text()
    assert "Rang Pat &lt;b&gt;back&lt;/b&gt;" in page
    token = olivia.headers["X-CSRF-Token"]
    refused = await olivia.post(
        "/items/i-rude/notes", data={"csrf_token": token, "key": "k1", "text": ""}
    )
    assert refused.status == 422
    assert "Write the note." in await refused.text()
    sent = await olivia.post(
        "/items/i-rude/notes",
        data={"csrf_token": token, "key": "k2", "text": "Second note"},
        allow_redirects=False,
    )
    assert sent.status == 303
    assert "handled=noted" in sent.headers["Location"]
    assert [r.text for r in site.handling.by_id.values()] == [text, "Second note"]


async def test_the_item_page_assigns_and_the_queue_shows_it(olivia, site):
    """The item page's form assigns the item to the officer, the page and the queue then
    say so, and the unassign button takes it off."""
    token = olivia.headers["X-CSRF-Token"]
    response = await olivia.post(
        "/items/i-rude/assignment",
        data={"csrf_token": token, "key": "a1", "assignee": "me"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert "handled=assigned" in response.headers["Location"]
    page = await (await olivia.get("/items/i-rude?handled=assigned")).text()
    assert "Assignment recorded." in page
    assert "Assigned to <strong>olivia</strong> by olivia" in page
    queue = await (await olivia.get("/")).text()
    assert "Assigned to <strong>olivia</strong>." in queue
    off = await olivia.post(
        "/items/i-rude/assignment",
        data={"csrf_token": token, "key": "a2", "unassign": "yes"},
        allow_redirects=False,
    )
    assert off.status == 303
    assert "Not assigned to anyone." in await (await olivia.get("/items/i-rude")).text()
    no_token = await olivia.post(
        "/items/i-rude/assignment", data={"key": "a3", "assignee": "me"}, headers={}
    )
    assert no_token.status == 403


async def test_the_queue_and_api_filter_by_lane_channel_assignee_and_label(olivia, site):
    """'mine', 'unassigned', a named officer, a label, a lane and a channel filter the
    queue page and the API alike; a bad value is a 400 naming it."""
    await post(olivia, "/api/review/i-rude/assignment", {"assignee": "olivia"})
    await post(olivia, "/api/review/i-bins/assignment", {"assignee": "maya"})
    pothole = site.state.items["i-pothole"]
    elsewhere = pothole.comment.model_copy(update={"channel": "Hitchin Town Hall"})
    site.state.add_item(pothole.model_copy(update={"comment": elsewhere}))

    async def api(query: str) -> list[str]:
        response = await olivia.get(f"/api/review?{query}")
        assert response.status == 200, await response.text()
        return sorted(i["id"] for i in (await response.json())["items"])

    assert await api("assignee=mine") == ["i-rude"]
    assert await api("assignee=maya") == ["i-bins"]
    assert await api("assignee=unassigned") == ["i-fake", "i-flood", "i-pothole"]
    assert await api("label=service_request&assignee=unassigned") == ["i-flood", "i-pothole"]
    assert await api("channel=Hitchin+Town+Hall") == ["i-pothole"]
    assert await api("lane=moderation&label=misinformation") == ["i-fake"]
    mine = await olivia.get("/api/review?assignee=mine")
    assert [i["assignee"] for i in (await mine.json())["items"]] == ["olivia"]
    assert (await olivia.get("/api/review?label=rude")).status == 400
    assert (await olivia.get("/api/review?assignee=mine&status=closed")).status == 400
    page = await (await olivia.get("/?assignee=mine")).text()
    assert 'id="item-i-rude"' in page
    assert 'id="item-i-bins"' not in page
    assert '<option value="mine" selected>' in page
    assert 'data-fragment="/fragments/queue?assignee=mine"' in page
    assert "Clear filters" in page
    fragment = await (await olivia.get("/fragments/queue?lane=response&assignee=maya")).text()
    assert 'id="item-i-bins"' in fragment
    assert "lane-moderation" not in fragment
    bad = await olivia.get("/?label=rude")
    assert bad.status == 400
    assert "label must be one of" in await bad.text()


async def test_the_queue_says_who_else_has_an_item_open_until_it_expires(olivia, site):
    """Maya opening an item shows "Being handled by maya" on Olivia's queue (not her own
    presence); heartbeats keep it; it is gone once the expiry passes without one."""
    maya, maya_token = await signed_in(site, "maya")
    try:
        assert (await maya.get("/items/i-rude")).status == 200
        queue = await (await olivia.get("/")).text()
        assert "Being handled by maya" in queue
        assert "Being handled by olivia" not in await (await maya.get("/")).text()
        ttl = site.ctx.settings.web_presence_ttl_s
        site.clock.advance(timedelta(seconds=ttl - 5))
        beat = await maya.post("/events/presence/i-rude", headers={"X-CSRF-Token": maya_token})
        assert beat.status == 204
        # A heartbeat is no activity: it does not keep the session alive.
        assert "Set-Cookie" not in beat.headers
        site.clock.advance(timedelta(seconds=ttl - 5))
        assert "Being handled by maya" in await (await olivia.get("/")).text()
        page = await (await olivia.get("/items/i-rude")).text()
        assert "Being handled by maya: they have this item open now." in page
        site.clock.advance(timedelta(seconds=ttl + 1))
        assert "Being handled by maya" not in await (await olivia.get("/")).text()
        missing = await maya.post(
            "/api/review/i-none/presence", headers={"X-CSRF-Token": maya_token}
        )
        assert missing.status == 404
    finally:
        await maya.close()


async def test_the_live_stamp_changes_with_assignments_and_presence(olivia, site):
    """The queue's live version changes when an item is assigned and when someone opens one."""

    class Request:
        app = site.app

    first = queue_snapshot(Request())["version"]  # type: ignore[arg-type]
    await post(olivia, "/api/review/i-rude/assignment", {"assignee": "olivia"})
    second = queue_snapshot(Request())["version"]  # type: ignore[arg-type]
    assert second != first
    await olivia.get("/items/i-fake")
    assert queue_snapshot(Request())["version"] != second  # type: ignore[arg-type]
