"""The database's views answer as the in-memory views do, on SQLite and a real PostgreSQL:
the same records folded by the projector into the tables and by the reader into memory
give the same queue, items, decisions, ledgers, blocks, audit records and cases; and the
officers' pages served from the database show them."""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from records import ReviewItem, encode
from records.handling import HandlingRecord
from records.moderation import Decision, ItemModeration
from records.privacy import Erasure
from records.sla import EmergencyChange
from tests.e2e.site import (
    FAST_HASHER,
    NOW,
    PASSWORD,
    build_site,
    comment,
    earlier_block,
    make_users,
    sample_cases,
    sample_items,
    verdict,
)
from worker.clock import ManualClock
from worker.db.handling import DbHandlingView
from worker.db.projector import Folder
from worker.db.views import DbAuditView, DbLedgerView, DbReviewView, DbSlaView
from worker.handling.filters import UNASSIGNED, QueueFilter
from worker.handling.presence import PresenceBoard
from worker.handling.state import HandlingState, HandlingView
from worker.moderation.policy import ModerationConfig
from worker.moderation.review_view import (
    AuditView,
    LedgerView,
    ModerationState,
    ReviewView,
    fill,
)
from worker.settings import Settings
from worker.sla.view import SlaView
from worker.web.pages import PAGES_KEY

pytestmark = pytest.mark.integration

# More moderation items than a lane shows, so that the limit and order are tested.
EXTRA = 60


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None


def extra_items() -> list[ReviewItem]:
    out = []
    for i in range(EXTRA):
        posted = comment(
            f"c-x{i}", f"Rude post {i}", minutes_ago=30 + (i * 7) % 50, author_id=f"x{i % 9}"
        )
        out.append(
            ReviewItem(
                id=f"i-x{i:02d}",
                lane="moderation",
                comment=posted,
                verdict=verdict(("abusive",), "moderation"),
                created_at=posted.created_at,
            )
        )
    return out


def records() -> list[object]:
    items = [*sample_items(), *extra_items()]
    rude = next(i for i in items if i.id == "i-rude")
    return [
        *items,
        *sample_cases(),
        earlier_block(),
        ItemModeration(
            item_id="i-x03",
            status="closed",
            outcome="hide",
            decided_by="maya",
            decided_at=NOW,
            updated_at=NOW,
        ),
        ItemModeration(item_id="i-x04", recommendation="Warn the author", updated_at=NOW),
        Decision(
            id="d-hide-rude",
            item_id=rude.id,
            lane="moderation",
            action="hide",
            by="olivia",
            role="officer",
            decided_at=NOW,
            author_key=rude.comment.author_key,
        ),
    ]


def topic_of(settings: Settings, record: object) -> str:
    names = settings.topics
    kinds = {
        "ReviewItem": names.review,
        "Case": names.cases,
        "AuditRecord": names.audit,
        "ItemModeration": names.moderation,
        "Decision": names.decisions,
        "EmergencyChange": names.emergency,
        "HandlingRecord": names.handling,
        "Erasure": names.erasures,
    }
    return kinds[type(record).__name__]


@dataclass
class Both:
    memory: tuple[ReviewView, LedgerView, AuditView, SlaView]
    db: tuple[DbReviewView, DbLedgerView, DbAuditView, DbSlaView]
    state: ModerationState
    folder: Folder
    offsets: dict[str, int]
    settings: Settings
    handling: tuple[HandlingView, DbHandlingView]
    handling_state: HandlingState

    def add(self, *new: object) -> None:
        """One more batch for both sides."""
        fill(self.state, new)
        for record in new:
            if isinstance(record, HandlingRecord):
                self.handling_state.add(record)
            elif isinstance(record, Erasure):
                self.handling_state.erase(record.author_key)
            elif isinstance(record, EmergencyChange):
                self.memory[3].apply_emergency(record)
            elif type(record).__name__ == "Case":
                self.memory[3].apply_case(record)  # type: ignore[arg-type]
        messages = []
        for record in new:
            topic = topic_of(self.settings, record)
            offset = self.offsets.get(topic, 0)
            self.offsets[topic] = offset + 1
            messages.append(Message(topic, 0, offset, encode(record)))  # type: ignore[arg-type]
        self.folder.fold(messages)


@pytest.fixture
def both(database):
    settings = Settings()
    clock = ManualClock(NOW)
    config = ModerationConfig()
    state = ModerationState(config=config, clock=clock)
    memory = (ReviewView(state), LedgerView(state), AuditView(state), SlaView())
    db = (
        DbReviewView(database, config, clock),
        DbLedgerView(database, clock),
        DbAuditView(database, config, clock),
        DbSlaView(database),
    )
    handling_state = HandlingState()
    handling = (HandlingView(handling_state, memory[0]), DbHandlingView(database, db[0]))
    folder = Folder(settings, database)
    out = Both(memory, db, state, folder, {}, settings, handling, handling_state)
    out.add(*records())
    return out


def ids(items) -> list[str]:
    return [i.id for i in items]


def test_the_queue_pages_and_counts_agree(both):
    """Each lane's first items in queue order, the counts per lane and every item agree,
    closures by moderation and by decision included."""
    memory, db = both.memory[0], both.db[0]
    for lane in ("urgent", "response", "moderation"):
        assert db.queue(lane, 50) == memory.queue(lane, 50)
        assert len(db.queue(lane, 50)) == min(50, memory.open_counts().get(lane, 0))
    assert db.open_counts() == memory.open_counts()
    assert "i-x03" not in ids(db.queue("moderation", 100))
    for item_id in ids(memory.items(status=None)):
        assert db.get(item_id) == memory.get(item_id)
    assert db.get("i-x04").recommendation == memory.get("i-x04").recommendation
    assert db.get("no-such-item") is None
    for lane in (None, "moderation", "response"):
        for status in ("open", "closed", None):
            assert ids(db.items(lane, status)) == ids(memory.items(lane, status))
    assert db.many(["i-rude", "i-bins", "nope"]) == memory.many(["i-rude", "i-bins", "nope"])


def walk(view, lane, status, limit) -> list[list[str]]:
    """Every page of the view's item list, following each page's last item."""
    pages: list[list[str]] = []
    after = None
    while True:
        page = view.page(lane, status, after, limit)
        if not page:
            return pages
        pages.append(ids(page))
        after = (page[-1].created_at, page[-1].id)


def test_the_item_list_pages_alike_and_completely(both):
    """Paging the item list seven at a time gives the same pages from the database as
    from memory: every item once, oldest first, items made at the same moment by id."""
    memory, db = both.memory[0], both.db[0]
    for lane, status in ((None, None), ("moderation", "open"), ("moderation", "closed")):
        pages = walk(db, lane, status, 7)
        assert pages == walk(memory, lane, status, 7)
        flat = [item_id for page in pages for item_id in page]
        everything = memory.items(lane, status)
        assert sorted(flat) == sorted(ids(everything))
        made = {i.id: (i.created_at, i.id) for i in everything}
        assert [made[i] for i in flat] == sorted(made.values())
        assert all(len(page) == 7 for page in pages[:-1])
    assert len({i.created_at for i in memory.items(None, None)}) < len(memory.items(None, None))


def test_decisions_authors_and_reports_agree(both):
    """An item's decisions, a decision by id, an author's open items and the items posted
    in a period agree."""
    memory, db = both.memory[0], both.db[0]
    assert db.decisions("i-rude") == memory.decisions("i-rude")
    assert db.decision("d-hide-rude") == memory.decision("d-hide-rude")
    assert db.decision("d-none") is None
    for author in {i.comment.author_key for i in memory.items(status=None)}:
        assert ids(db.open_for_author(author)) == ids(memory.open_for_author(author))
    start, end = NOW - timedelta(minutes=40), NOW
    assert sorted(ids(db.posted_between(start, end))) == sorted(
        ids(memory.posted_between(start, end))
    )
    assert 0 < len(db.posted_between(start, end)) < len(memory.items(status=None))
    assert sorted(db.labelled_between(start, end)) == sorted(memory.labelled_between(start, end))
    # Bounds in another zone are the same instants (SQLite compares the text).
    paris = ZoneInfo("Europe/Paris")
    local = (start.astimezone(paris), end.astimezone(paris))
    assert sorted(ids(db.posted_between(*local))) == sorted(ids(memory.posted_between(start, end)))
    assert sorted(db.labelled_between(*local)) == sorted(memory.labelled_between(start, end))


def test_ledgers_blocks_and_audit_records_agree(both):
    """Ledgers, blocks that may or may not be appealed, and audit records by period and
    author agree."""
    ledgers, db_ledgers = both.memory[1], both.db[1]
    block = earlier_block()
    assert db_ledgers.get(block.author_key) == ledgers.get(block.author_key)
    assert db_ledgers.get("facebook:nobody") is None
    assert db_ledgers.authors() == ledgers.authors()
    for appealable in (None, True, False):
        assert db_ledgers.blocks(appealable) == ledgers.blocks(appealable)
    audit, db_audit = both.memory[2], both.db[2]
    day = block.decided_at.date()
    for args in (
        (None, None, None),
        (day, day, None),
        (day + timedelta(days=1), None, None),
        (None, None, block.author_key),
        (block.decided_at, block.decided_at, None),
    ):
        assert db_audit.records(*args) == audit.records(*args)
    assert db_audit.has(block.id) is audit.has(block.id) is True


def test_cases_and_emergency_mode_agree(both):
    """Cases, open cases soonest due first, counts, cases received in a period and
    emergency mode agree."""
    sla, db_sla = both.memory[3], both.db[3]
    assert db_sla.cases() == sla.cases()
    assert db_sla.open_cases() == sla.open_cases()
    assert db_sla.open_cases(1) == sla.open_cases(1)
    assert db_sla.counts(NOW) == sla.counts(NOW)
    since = NOW - timedelta(hours=8)
    assert db_sla.cases_received(since) == sla.cases_received(since)
    assert db_sla.cases_received(since.astimezone(ZoneInfo("Asia/Tokyo"))) == sla.cases_received(
        since
    )
    assert db_sla.counts(NOW.astimezone(ZoneInfo("Asia/Tokyo"))) == sla.counts(NOW)
    assert db_sla.get("case-c-bins") == sla.get("case-c-bins")
    change = EmergencyChange(id="e-1", active=True, by="maya", reason="flood", at=NOW)
    both.add(change)
    assert db_sla.emergency_state() == sla.emergency_state()
    assert db_sla.emergency.active is True
    assert db_sla.rules.clock.between(NOW, NOW + timedelta(hours=3)) == sla.rules.clock.between(
        NOW, NOW + timedelta(hours=3)
    )


def test_the_stamp_changes_when_the_queue_does(both):
    """A decision folded in changes the queue's stamp, folding it again does not, and an
    author's new audit record does."""
    db = both.db[0]
    before = db.stamp()
    flood = next(i for i in sample_items() if i.id == "i-flood")
    decision = Decision(
        id="d-flood",
        item_id=flood.id,
        lane="urgent",
        action="dismiss",
        by="olivia",
        role="officer",
        decided_at=NOW,
        author_key=flood.comment.author_key,
    )
    both.add(decision)
    after = db.stamp()
    assert after != before
    both.folder.fold(
        [
            Message(
                both.settings.topics.decisions,
                0,
                both.offsets[both.settings.topics.decisions] - 1,
                encode(decision),
            )
        ]
    )
    assert db.stamp() == after
    # An author's new record changes the advice on their open items: the stamp too.
    block = earlier_block()
    later = block.model_copy(
        update={"id": "d-later", "decision_id": "d-later", "decided_at": NOW, "action": "warn"}
    )
    both.add(later)
    assert db.stamp() != after


def handled(i: int, kind, item: str, *, minutes: int = 0, **extra) -> HandlingRecord:
    return HandlingRecord(
        id=f"h-{i}",
        kind=kind,
        item_id=item,
        lane="moderation",
        by="maya",
        at=NOW + timedelta(minutes=minutes),
        author_key=extra.pop("author_key", "facebook:x1"),
        **extra,
    )


def test_assignments_notes_and_filters_agree(both):
    """Assignments (the last one counts), their history, notes, and the queue filtered
    by lane, channel, assignee and label agree, limits and counts included; an erasure
    blanks the notes on both sides."""
    memory, db = both.handling
    moved = both.state.items["i-x05"]
    elsewhere = moved.comment.model_copy(update={"channel": "Hitchin Town Hall"})
    both.add(
        moved.model_copy(update={"comment": elsewhere}),
        handled(1, "assign", "i-x01", assignee="olivia"),
        handled(2, "assign", "i-x02", assignee="maya"),
        handled(3, "unassign", "i-x02", minutes=1),
        handled(4, "assign", "i-x06", assignee="maya"),
        handled(5, "assign", "i-x06", assignee="olivia", minutes=2),
        handled(6, "note", "i-x06", text="Pat rang", author_key="facebook:x6"),
        handled(7, "assign", "i-bins", assignee="olivia"),
    )
    assert db.assignments(["i-x01", "i-x02", "i-x06", "nope"]) == memory.assignments(
        ["i-x01", "i-x02", "i-x06", "nope"]
    )
    assert db.assignment("i-x06").assignee == "olivia"
    assert db.assignment("i-x02") is None
    for item in ("i-x02", "i-x06", "i-bins", "nope"):
        assert db.history(item) == memory.history(item)
        assert db.notes(item) == memory.notes(item)
    assert db.record("h-6") == memory.record("h-6")
    assert db.record("h-none") is None
    filters = [
        QueueFilter(),
        QueueFilter(assignee="olivia"),
        QueueFilter(assignee="maya"),
        QueueFilter(assignee=UNASSIGNED),
        QueueFilter(label="abusive"),
        QueueFilter(label="service_request", assignee="olivia"),
        QueueFilter(channel="Hitchin Town Hall"),
        QueueFilter(channel="North Herts Council", assignee=UNASSIGNED, label="abusive"),
        QueueFilter(lane="response", assignee="olivia"),
    ]
    for where in filters:
        assert db.open_counts(where) == memory.open_counts(where), where
        for lane in ("urgent", "response", "moderation"):
            for limit in (3, 100):
                assert ids(db.queue(lane, where, limit)) == ids(memory.queue(lane, where, limit))
    assert sorted(ids(db.queue("moderation", QueueFilter(assignee="olivia"), 10))) == [
        "i-x01",
        "i-x06",
    ]
    assert ids(db.queue("moderation", QueueFilter(channel="Hitchin Town Hall"), 10)) == ["i-x05"]
    assert db.queue("moderation", filters[5], 10) == []
    # A retried assignment read again after later ones moves nothing, on either side.
    both.add(handled(4, "assign", "i-x06", assignee="maya"))
    assert db.assignment("i-x06").assignee == memory.assignment("i-x06").assignee == "olivia"
    both.add(Erasure(author_key="facebook:x6", erased_at=NOW, by="maya", reason="SAR-1"))
    assert [n.text for n in db.notes("i-x06")] == ["[erased]"]
    assert db.notes("i-x06") == memory.notes("i-x06")


def test_presence_is_shared_by_two_apps_and_expires(database):
    """Two boards on one database (two web processes) see each other's officers until the
    expiry passes without a heartbeat; leaving takes the officer off at once."""
    clock = ManualClock(NOW)
    one, two = PresenceBoard(database, clock, 60), PresenceBoard(database, clock, 60)
    stamp = two.stamp()
    one.touch("i-1", "olivia")
    two.touch("i-1", "maya")
    two.touch("i-2", "maya")
    assert one.present(["i-1", "i-2", "i-3"]) == {"i-1": ["maya", "olivia"], "i-2": ["maya"]}
    assert two.stamp() != stamp
    clock.advance(timedelta(seconds=45))
    one.touch("i-1", "olivia")  # a heartbeat
    clock.advance(timedelta(seconds=20))
    assert two.present() == {"i-1": ["olivia"]}
    one.leave("i-1", "olivia")
    assert two.present() == {}


@pytest.fixture
async def db_site(tmp_path, database, both):
    """The officers' app over the database's views of the same records."""
    store = make_users(tmp_path, FAST_HASHER)

    def configure(ctx) -> None:
        review, ledger, audit, sla = both.db
        ctx.views.review, ctx.views.ledger, ctx.views.audit = review, ledger, audit
        sla.publish_emergency = ctx.views.sla.publish_emergency
        ctx.views.sla = sla
        ctx.views.moderation_state = None

    site = build_site(tmp_path, users=store, configure=configure)
    site.app[PAGES_KEY].live_interval = 0.05
    async with TestClient(TestServer(site.app)) as client:
        token = re.search(
            r'name="csrf_token" value="([^"]+)"', await (await client.get("/login")).text()
        )
        assert token
        response = await client.post(
            "/login",
            data={
                "username": "maya",
                "password": PASSWORD,
                "csrf_token": token.group(1),
                "next": "/",
            },
            allow_redirects=False,
        )
        assert response.status == 303
        yield client


async def test_the_pages_read_the_database(db_site):
    """The queue shows a lane's first 50 and how many more, the item, author, replies and
    reports pages show the records from the database."""
    page = await (await db_site.get("/")).text()
    assert "Water pouring into houses" in page
    # The extra items less the one moderation closed, and i-fake: 60 open, 50 shown.
    assert "10 more in this lane" in page
    item = await db_site.get("/items/i-fake")
    assert item.status == 200
    assert "poisoned the water supply" in await item.text()
    author = await db_site.get("/authors/facebook:a5")
    assert author.status == 200
    assert "Rumour Mill" in await author.text()
    replies = await (await db_site.get("/replies")).text()
    assert "Open cases, soonest deadline first" in replies
    reports = await db_site.get(f"/reports?from={(NOW - timedelta(days=3)).date()}&to={NOW.date()}")
    assert reports.status == 200
    api = await db_site.get("/api/review?lane=urgent")
    assert [i["id"] for i in (await api.json())["items"]] == ["i-flood"]
    assert date.fromisoformat(
        (await (await db_site.get("/api/blocks")).json())["blocks"][0]["appealable_from"]
    )


async def test_live_updates_follow_the_database(db_site, both):
    """The queue's event stream sends the counts from the database, and sends them again
    once a decision folded into it closes an item."""
    response = await db_site.get("/events/queue")
    assert response.headers["Content-Type"] == "text/event-stream"

    async def next_event() -> str:
        while True:
            line: str = (await response.content.readline()).decode()
            if line.startswith("data: "):
                return line

    first = await asyncio.wait_for(next_event(), timeout=10)
    assert '"urgent":1' in first
    flood = next(i for i in sample_items() if i.id == "i-flood")
    both.add(
        Decision(
            id="d-flood-live",
            item_id=flood.id,
            lane="urgent",
            action="dismiss",
            by="olivia",
            role="officer",
            decided_at=NOW,
            author_key=flood.comment.author_key,
        )
    )
    second = await asyncio.wait_for(next_event(), timeout=10)
    assert '"urgent":0' in second
    response.close()


async def test_the_api_item_list_pages_with_a_cursor(db_site, both):
    """/api/review?status=all gives pages of `limit` with a `next` cursor until the last,
    every item once; a limit over the maximum or a cursor it did not write is a 400."""
    seen: list[str] = []
    sizes: list[int] = []
    url = "/api/review?status=all&limit=25"
    while True:
        response = await db_site.get(url)
        assert response.status == 200
        body = await response.json()
        sizes.append(len(body["items"]))
        seen.extend(i["id"] for i in body["items"])
        if body["next"] is None:
            break
        url = f"/api/review?status=all&limit=25&after={body['next']}"
    total = len(both.memory[0].items(None, None))
    assert sizes == [25, 25, total - 50]
    assert sorted(seen) == sorted(ids(both.memory[0].items(None, None)))
    default = await (await db_site.get("/api/review?status=all")).json()
    assert (len(default["items"]), default["next"]) == (total, None)
    for query in ("limit=501", "limit=0", "limit=ten", "after=not-a-cursor"):
        refused = await db_site.get(f"/api/review?status=all&{query}")
        assert refused.status == 400, query


async def test_a_slow_query_holds_up_no_other_request(db_site, both, monkeypatch):
    """While one request's database query is stuck, another request is answered and the
    queue's live stream sends its counts: the views are read off the event loop."""
    review = both.db[0]
    entered, release = threading.Event(), threading.Event()
    original = review.page

    def stuck_page(*args, **kwargs):
        entered.set()
        # Were it on the loop, the loop would be stuck here, and the test with it.
        release.wait(timeout=30)
        return original(*args, **kwargs)

    monkeypatch.setattr(review, "page", stuck_page)
    slow = asyncio.create_task(db_site.get("/api/review?status=all"))
    try:
        assert await asyncio.to_thread(entered.wait, 30)
        item = await db_site.get("/api/review/i-flood")
        assert item.status == 200
        assert (await item.json())["item"]["id"] == "i-flood"
        events = await db_site.get("/events/queue")
        while not (line := (await events.content.readline()).decode()).startswith("data: "):
            pass
        assert '"urgent":1' in line
        events.close()
        assert not slow.done()
    finally:
        release.set()
    response = await slow
    assert response.status == 200
    assert len((await response.json())["items"]) == len(both.memory[0].items(None, None))
