"""A complete officers' app over in-memory views filled with real records (no Kafka).

The review, ledger and audit views are the moderation part's own classes
(worker/moderation/review_view.py) fed records directly; the SLA view is the SLA part's
own class. Only the step that the worker's agents would take after a decision (closing
the audit record) is done here by :class:`AppliedDecisions`, the decision sink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from argon2 import PasswordHasher

from records import Author, Comment, Reason, ReviewItem, Signals, Verdict
from records.handling import HandlingRecord
from records.moderation import AuditRecord, Decision
from records.sla import Case, EmergencyChange
from worker.clock import ManualClock
from worker.context import WorkerContext
from worker.handling.state import HandlingState, HandlingView
from worker.moderation.ledger import BREACH_ACTIONS, appeal_date
from worker.moderation.policy import ModerationConfig
from worker.moderation.review_view import ModerationState, fill, install_views
from worker.moderation.step import audit_record
from worker.settings import Settings
from worker.users import UserStore, open_store
from worker.web.app import create_web_app

# Tuesday 24 November 2026, 10:00 in London (GMT): inside office hours.
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/London")  # the shipped policy's
PASSWORD = "correct horse battery"
USERS = {"olivia": "officer", "victor": "viewer", "maya": "manager"}
XSS_TEXT = "You lot are useless <script>alert(1)</script> <img src=x onerror=alert(2)>"


def comment(
    cid: str,
    text: str,
    *,
    minutes_ago: int,
    author_id: str = "a1",
    name: str | None = "Pat Example",
    handle: str | None = "patex",
    url: str | None = "https://facebook.example/posts/1",
) -> Comment:
    at = NOW - timedelta(minutes=minutes_ago)
    return Comment(
        id=cid,
        platform="facebook",
        channel="North Herts Council",
        kind="comment",
        thread_id=f"t-{cid}",
        author=Author(id=author_id, handle=handle, name=name),
        text=text,
        created_at=at,
        received_at=at,
        url=url,
    )


def verdict(labels: tuple[Any, ...], lane: Any, reasons: tuple[Reason, ...] = ()) -> Verdict:
    scores = {
        c: (0.91 if c in labels else 0.03)
        for c in ("service_request", "abusive", "misinformation", "spam")
    }
    return Verdict(
        labels=labels,
        scores=scores,
        reasons=reasons,
        lane=lane,
        lanes=(lane,),
        signals=Signals(toxicity={"insult": 0.8} if "abusive" in labels else {}),
    )


def sample_items() -> list[ReviewItem]:
    """The demo's kinds of item: one urgent, two replies due, two to moderate."""
    abusive = Reason(
        code="abusive",
        clause="Rude, abusive or threatening",
        evidence="insult 0.80",
        category="abusive",
    )
    misinfo = Reason(
        code="misleading",
        clause="Deceptive or misleading",
        evidence="claims the water is poisoned",
        category="misinformation",
    )
    flood = comment(
        "c-flood",
        "Water pouring into houses on Station Road, flooding now!",
        minutes_ago=5,
        author_id="a2",
        name="Sam Resident",
        handle="samr",
    )
    pothole = comment(
        "c-pothole",
        "Huge pothole on Bancroft, who do I tell?",
        minutes_ago=90,
        author_id="a3",
        name="Jo Driver",
        handle=None,
    )
    bins = comment(
        "c-bins",
        "Bins not collected on Walsworth Road again",
        minutes_ago=400,
        author_id="a4",
        name=None,
        handle="binwatch",
    )
    rude = comment("c-rude", XSS_TEXT, minutes_ago=30, url="javascript:alert(3)")
    fake = comment(
        "c-fake",
        "The council has poisoned the water supply, share this!",
        minutes_ago=60,
        author_id="a5",
        name="Rumour Mill",
        handle="rumours",
    )
    return [
        ReviewItem(
            id="i-flood",
            lane="urgent",
            comment=flood,
            verdict=verdict(("service_request",), "urgent"),
            created_at=flood.created_at,
            due_at=NOW + timedelta(hours=7, minutes=55),
        ),
        ReviewItem(
            id="i-pothole",
            lane="response",
            comment=pothole,
            verdict=verdict(("service_request",), "response"),
            created_at=pothole.created_at,
            due_at=NOW + timedelta(hours=6, minutes=30),
        ),
        ReviewItem(
            id="i-bins",
            lane="response",
            comment=bins,
            verdict=verdict(("service_request",), "response"),
            created_at=bins.created_at,
            due_at=NOW + timedelta(hours=1, minutes=20),
        ),
        ReviewItem(
            id="i-rude",
            lane="moderation",
            comment=rude,
            verdict=verdict(("abusive",), "moderation", (abusive,)),
            created_at=rude.created_at,
        ),
        ReviewItem(
            id="i-fake",
            lane="moderation",
            comment=fake,
            verdict=verdict(("misinformation",), "moderation", (misinfo,)),
            created_at=fake.created_at,
        ),
    ]


def earlier_block() -> AuditRecord:
    """A block recorded last year for the misinformation author (appealable now)."""
    at = NOW - timedelta(days=400)
    return AuditRecord(
        id="d-old-block",
        decision_id="d-old-block",
        item_id="i-old",
        author_key="facebook:a5",
        platform="facebook",
        author_id="a5",
        account_name="Rumour Mill",
        account_handle="rumours",
        channel="North Herts Council",
        comment_key="facebook:c-old",
        posted_at=at,
        text="An older post",
        categories=("abusive",),
        action="block",
        decided_by="maya",
        decided_at=at,
        appealable_from=appeal_date(at.date()),
    )


def sample_cases() -> list[Case]:
    def case(item: str, cid: str, received: datetime, due: datetime, **extra: Any) -> Case:
        return Case(
            id=f"case-{cid}",
            conversation_key=f"facebook:t-{cid}",
            number=1,
            platform="facebook",
            channel="North Herts Council",
            status=extra.pop("status", "open"),
            opened_by=f"facebook:{cid}",
            author_key="facebook:a3",
            item_id=item,
            received_at=received,
            due_at=due,
            target_hours=8.0,
            **extra,
        )

    return [
        case("i-pothole", "c-pothole", NOW - timedelta(minutes=90), NOW + timedelta(hours=6.5)),
        case("i-bins", "c-bins", NOW - timedelta(minutes=400), NOW + timedelta(minutes=80)),
        case(
            "i-done",
            "c-done",
            NOW - timedelta(hours=20),
            NOW - timedelta(hours=1),
            status="closed",
            closed_at=NOW - timedelta(hours=3),
            closed_by="replied",
            response_hours=5.0,
        ),
    ]


@dataclass
class AppliedDecisions:
    """The decision sink: keeps what was sent and, for a breach, writes the audit record
    with the moderation agent's own function (submit_decision has already checked the
    decision and laid it over the item)."""

    state: ModerationState
    sent: list[Decision] = field(default_factory=list)

    async def __call__(self, decision: Decision) -> None:
        self.sent.append(decision)
        item = self.state.items.get(decision.item_id)
        if item is None or decision.action not in BREACH_ACTIONS:
            return
        self.state.add_audit(audit_record(item, decision, self.state.config, ZONE))


@dataclass
class Site:
    ctx: WorkerContext
    state: ModerationState
    clock: ManualClock
    decisions: AppliedDecisions
    app: web.Application
    emergency: list[EmergencyChange]
    # Assignments and notes, folded at once as the projector would.
    handling: HandlingState = field(default_factory=HandlingState)


# Cheap argon2 parameters for test accounts (the hash records them, so sign-in is cheap too).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


def make_users(data_dir: Path, hasher: PasswordHasher | None = None) -> UserStore:
    """Olivia, Victor and Maya in the default database of ``data_dir``."""
    store = open_store(Settings(data_dir=data_dir), hasher)
    for name, role in USERS.items():
        store.add(name, role, PASSWORD)
    return store


def build_site(
    data_dir: Path,
    *,
    users: UserStore | None = None,
    configure: Callable[[WorkerContext], None] | None = None,
    **settings_overrides: Any,
) -> Site:
    """The web app with the sample records, users olivia/victor/maya and a fixed clock;
    keyword arguments are settings."""
    from worker.sla.view import SlaView

    settings = Settings(
        data_dir=data_dir,
        session_secret="test-secret-" + "x" * 32,
        **settings_overrides,
    )
    clock = ManualClock(NOW)
    ctx = WorkerContext(settings=settings, clock=clock)
    state = fill(
        ModerationState(config=ModerationConfig(), clock=clock), [*sample_items(), earlier_block()]
    )
    install_views(ctx.views, state)
    sla = SlaView()
    for case in sample_cases():
        sla.apply_case(case)
    published: list[EmergencyChange] = []

    async def publish(change: EmergencyChange) -> None:
        published.append(change)
        sla.apply_emergency(change)

    sla.publish_emergency = publish
    ctx.views.sla = sla
    ctx.views.users = users if users is not None else make_users(data_dir)
    decisions = AppliedDecisions(state)
    ctx.views.decision_sink = decisions
    handling = HandlingState()

    async def record_handling(record: HandlingRecord) -> None:
        handling.add(record)

    ctx.views.handling_sink = record_handling
    assert ctx.views.review is not None
    ctx.views.handling = HandlingView(handling, ctx.views.review)
    if configure is not None:
        configure(ctx)
    app = create_web_app(ctx)
    return Site(ctx, state, clock, decisions, app, published, handling)
