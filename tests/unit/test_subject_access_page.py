"""/subject-access over HTTP: only a manager may export, the export is one JSON download of
what the database holds about the person, and each export is logged with the manager's
name."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from records import TriageResult, encode
from tests.e2e.site import FAST_HASHER, NOW, build_site, earlier_block, make_users, sample_items
from tests.unit.test_pages import csrf_token, sign_in
from worker.db.models import PrivacyLog
from worker.db.projector import Folder


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@pytest.fixture
def site(tmp_path):
    """The officers' app on a database holding the sample comments, items and block."""
    store = make_users(tmp_path, FAST_HASHER)
    site = build_site(tmp_path, users=store)
    topics = site.ctx.settings.topics
    messages = [Message(topics.audit, 0, 0, encode(earlier_block()))]
    for item in sample_items():
        result = TriageResult(comment=item.comment, verdict=item.verdict, classified_at=NOW)
        messages.append(Message(topics.verdicts, 0, len(messages), encode(result)))
        messages.append(Message(topics.review, 0, len(messages), encode(item)))
    Folder(site.ctx.settings, store.database).fold(messages)
    return site


@pytest.fixture
async def client(site):
    async with TestClient(TestServer(site.app)) as test_client:
        yield test_client


def logged(site) -> list[tuple[str, str, str | None]]:
    with site.ctx.views.users.database.read() as session:
        return [(r.kind, r.by, r.author_key) for r in session.scalars(select(PrivacyLog))]


async def test_an_officer_can_neither_see_nor_use_the_page(client, site):
    """An officer gets 403 on the page and on the export, and nothing is logged."""
    await sign_in(client, "olivia")
    assert (await client.get("/subject-access")).status == 403
    token = await csrf_token(client, "/")
    refused = await client.post(
        "/subject-access", data={"author": "facebook:a5", "csrf_token": token}
    )
    assert refused.status == 403
    assert logged(site) == []


async def test_a_manager_downloads_the_export_and_it_is_logged(client, site):
    """A manager's export is a JSON attachment with the person's rows and ledger only, and
    privacy_log records it under the manager's name."""
    await sign_in(client, "maya")
    token = await csrf_token(client, "/subject-access?author=facebook:a5")
    response = await client.post(
        "/subject-access", data={"author": "facebook:a5", "csrf_token": token}
    )
    assert response.status == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="subject-access-facebook_a5.json"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    document = json.loads(await response.text())
    assert document["exported_by"] == "maya"
    assert [row["id"] for row in document["review_items"]] == ["i-fake"]
    assert [row["id"] for row in document["audit_records"]] == ["d-old-block"]
    assert document["ledger"]["blocks"][0]["decision_id"] == "d-old-block"
    assert "Bancroft" not in await response.text()
    assert logged(site) == [("subject_access", "maya", "facebook:a5")]


async def test_the_author_page_links_managers_to_the_export(client):
    """A manager finds the export from the author's page, with the key filled in; an
    officer sees no link."""
    await sign_in(client, "olivia")
    assert 'id="subject-access"' not in await (await client.get("/authors/facebook:a5")).text()
    await sign_in(client, "maya")
    page = await (await client.get("/authors/facebook:a5")).text()
    assert 'href="/subject-access?author=facebook%3Aa5"' in page
    form = await (await client.get("/subject-access?author=facebook%3Aa5")).text()
    assert 'value="facebook:a5"' in form


async def test_a_malformed_author_key_is_refused_on_the_page(client, site):
    """A key without a platform is answered 422 with the reason, and nothing is logged."""
    await sign_in(client, "maya")
    token = await csrf_token(client, "/subject-access")
    response = await client.post("/subject-access", data={"author": "a5", "csrf_token": token})
    assert response.status == 422
    assert "is not an author key" in await response.text()
    assert logged(site) == []
