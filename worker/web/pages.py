"""The officers' app: server-rendered pages over the worker's views.

Routes: /login, /logout, / (the queue), /fragments/queue, /events/queue (live updates),
/items/{id} (+ /decision), /authors/{key}, /replies, /reports (+ CSV), /emergency.
Pages work without JavaScript; the one script only refreshes the queue when it changes.
Decisions go through the moderation part's own validation and producer, the same path
as ``POST /api/decisions``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
import structlog
from aiohttp import web

from records import CATEGORIES, ReviewItem
from worker.context import WorkerContext
from worker.handling.filters import MINE, UNASSIGNED, FilterError, QueueFilter, parse_filter
from worker.handling.presence import PresenceBoard
from worker.moderation.decisions import DecisionRefused, DecisionRequest
from worker.moderation.messages import MessageError, messages_for
from worker.moderation.service import submit_decision
from worker.read_views import off_loop
from worker.users import User, UserError, UserStore, open_store
from worker.web import csp
from worker.web.page_models import (
    ACTION_TEXT,
    CATEGORY_TEXT,
    LANE_HINTS,
    LANE_ORDER,
    LANE_TITLES,
    ItemView,
    actions_for,
    item_view,
)
from worker.web.proxies import client_address
from worker.web.security import USER_KEY
from worker.web.session import (
    SESSIONS_KEY,
    USERS_KEY,
    LoginLimiter,
    SessionCodec,
    SessionManager,
    csrf_middleware,
    load_secret,
    refresh_middleware,
    user_from_session,
)

__all__ = [
    "DECIDE_KEY",
    "ITEM_EXTRAS",
    "PAGES_KEY",
    "Decide",
    "PageState",
    "current_user",
    "queue_snapshot",
    "render",
    "require_user",
    "setup",
]

log = structlog.get_logger(__name__)

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
# Built by `npm ci` at the repository root; served as is, never copied into the repo.
GOVUK_DIST = WEB_DIR.parents[1] / "node_modules" / "govuk-frontend" / "dist" / "govuk"
SERVICE_NAME = "Social media triage"
# Items shown per lane; the rest follow as these are decided (a page stays quick).
LANE_LIMIT = 50
COUNCIL_NAME = "North Hertfordshire Council"

# Checks and sends a decision, or raises DecisionRefused: the moderation part's
# submit_decision, the same path as POST /api/decisions (tests may put their own).
Decide = Callable[[WorkerContext, User, DecisionRequest], Awaitable[object]]


@dataclass
class PageState:
    """Per-process state of the pages: the live streams' stop signal and poll interval."""

    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    live_interval: float = 1.0


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PAGES_KEY = web.AppKey("pages", PageState)
DECIDE_KEY: web.AppKey[Decide] = web.AppKey("decide")
CTX = web.AppKey("pages_ctx", WorkerContext)
# More of the item page's context from the areas that add to it (worker/web/replying.py).
ItemExtra = Callable[[web.Request, User, ReviewItem], Mapping[str, Any]]
ITEM_EXTRAS: web.AppKey[list[ItemExtra]] = web.AppKey("item_extras")
JINJA = web.AppKey("jinja", jinja2.Environment)


# -- helpers ----------------------------------------------------------------------------


def current_user(request: web.Request) -> User | None:
    user = request.get(USER_KEY)
    if isinstance(user, User):
        return user
    return user_from_session(request)


def require_user(request: web.Request) -> User:
    user = current_user(request)
    if user is None:
        target = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPSeeOther("/login?next=" + quote(target, safe=""))
    return user


def _local_path(value: str | None, default: str = "/") -> str:
    """Only paths on this site, so that ?next= cannot send anyone elsewhere."""
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value:
        return default
    return value


def _ctx(request: web.Request) -> WorkerContext:
    return request.app[CTX]


def _emergency_on(ctx: WorkerContext) -> bool:
    view = ctx.views.sla
    return view is not None and bool(view.emergency.active)


NAV = (
    ("/", "Queue"),
    ("/replies", "Replies"),
    ("/reports", "Reports"),
    ("/emergency", "Emergency mode"),
)


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> web.Response:
    ctx = _ctx(request)
    manager = request.app[SESSIONS_KEY]
    session = manager.read(request)
    user = current_user(request)
    values = {
        "service_name": SERVICE_NAME,
        "council_name": COUNCIL_NAME,
        "govuk_available": GOVUK_DIST.is_dir(),
        "user": user,
        "user_name": user.name if user else "",
        "user_role": user.role if user else "",
        "csrf_token": session.csrf if session else "",
        "nav": [
            {"href": href, "text": text, "current": request.path == href} for href, text in NAV
        ],
        "emergency_on": _emergency_on(ctx),
        "flash": "",
        "error_count": 0,
    }
    values.update(context)
    body = request.app[JINJA].get_template(template).render(values)
    response = web.Response(text=body, status=status, content_type="text/html")
    if template == "login.html":
        manager.set_cookie(request, response)
    return response


def _ledger(request: web.Request, author_key: str) -> Any:
    view = _ctx(request).views.ledger
    return view.get(author_key) if view is not None else None


def _now(request: web.Request) -> Any:
    return _ctx(request).clock.now()


def _one_item(
    request: web.Request, user: User, item: ReviewItem, ledgers: Mapping[str, Any] | None = None
) -> ItemView:
    """The item as a page shows it, with working time left from the SLA part's calendar;
    ``ledgers`` are the authors' records when the caller has fetched them together."""
    ctx = _ctx(request)
    now = ctx.clock.now()
    sla = ctx.views.sla
    left: timedelta | None = None
    at_risk = timedelta(hours=2)
    if sla is not None:
        at_risk = timedelta(hours=float(sla.rules.at_risk_hours))
        if item.due_at is not None and now < item.due_at:
            left = sla.rules.clock.between(now, item.due_at)
    return item_view(
        item,
        role=user.role,
        now=now,
        ledger=(
            ledgers.get(item.comment.author_key)
            if ledgers is not None
            else _ledger(request, item.comment.author_key)
        ),
        working_left=left,
        at_risk=at_risk,
        zone=ctx.zone,
    )


def queue_snapshot(request: web.Request) -> dict[str, object]:
    """Counts per lane, a one-line summary and a version that changes with the queue,
    its assignments and who has which item open."""
    views = _ctx(request).views
    view = views.review
    counts = dict.fromkeys(LANE_ORDER, 0)
    stamp = ""
    if view is not None:
        counts.update({k: v for k, v in view.open_counts().items() if k in counts})
        stamp = view.stamp()
    if views.handling is not None:
        stamp += "|" + views.handling.stamp()
    if views.presence is not None:
        stamp += "|" + views.presence.stamp()
    digest = hashlib.sha256(f"{stamp}|{sorted(counts.items())}".encode())
    summary = (
        "Queue updated: "
        + ", ".join(f"{counts[lane]} {LANE_TITLES[lane].lower()}" for lane in LANE_ORDER)
        + "."
    )
    return {"version": digest.hexdigest()[:16], "counts": counts, "summary": summary}


def queue_filter(request: web.Request, user: User) -> QueueFilter:
    """The queue's filters in the address; a bad value is a 400 that names it."""
    try:
        return parse_filter(request.query, user.name)
    except FilterError as exc:
        raise web.HTTPBadRequest(text=f"The filter cannot be used: {exc}.") from None


def _filter_form(request: web.Request, where: QueueFilter, user: User) -> dict[str, Any]:
    """The queue's filter form: the options and what is chosen now."""
    store = _ctx(request).views.users
    officers = [u.name for u in store.users() if u.at_least("officer")] if store else []
    chosen = request.query.get("assignee", "")
    assignees = [("", "Anyone"), (MINE, "Assigned to me"), (UNASSIGNED, "Not assigned")]
    assignees += [(name, name) for name in officers if name != user.name]
    return {
        "active": where.active,
        "lanes": [("", "All lanes")] + [(lane, LANE_TITLES[lane]) for lane in LANE_ORDER],
        "lane": where.lane or "",
        "channel": where.channel or "",
        "assignees": assignees,
        "assignee": chosen if chosen in (MINE, UNASSIGNED) else where.assignee,
        "labels": [("", "Any label")] + [(c, CATEGORY_TEXT[c]) for c in CATEGORIES],
        "label": where.label or "",
    }


def _queue_context(request: web.Request, user: User) -> dict[str, Any]:
    """The first ``LANE_LIMIT`` items of each lane that pass the filters, in queue order,
    every lane's count, whom each is assigned to and who else has it open."""
    views = _ctx(request).views
    view = views.review
    where = queue_filter(request, user)
    snapshot = queue_snapshot(request)
    counts: dict[str, int] = snapshot["counts"]  # type: ignore[assignment]
    handling = views.handling
    lanes_shown = [lane for lane in LANE_ORDER if where.lane in (None, lane)]
    if where.active and handling is not None:
        counts = dict.fromkeys(LANE_ORDER, 0) | handling.open_counts(where)
        shown = {lane: handling.queue(lane, where, LANE_LIMIT) for lane in lanes_shown}
    else:
        shown = {
            lane: view.queue(lane, LANE_LIMIT) if view is not None else [] for lane in lanes_shown
        }
    ids = [item.id for items in shown.values() for item in items]
    assigned = handling.assignments(ids) if handling is not None else {}
    present = views.presence.present(ids) if views.presence is not None else {}
    ledger_view = views.ledger
    authors = {item.comment.author_key for items in shown.values() for item in items}
    ledgers = ledger_view.many(authors) if ledger_view is not None else {}
    lanes = []
    for lane in lanes_shown:
        items = shown[lane]
        entries = [
            replace(
                _one_item(request, user, item, ledgers),
                assignee=assigned[item.id].assignee or "" if item.id in assigned else "",
                handled_by=[n for n in present.get(item.id, ()) if n != user.name],
            )
            for item in items
        ]
        lanes.append(
            {
                "name": lane,
                "title": LANE_TITLES[lane],
                "hint": LANE_HINTS[lane],
                "count": counts[lane],
                "entries": entries,
                "hidden": max(0, counts[lane] - len(entries)),
            }
        )
    waiting = ", ".join(f"{counts[lane]} {LANE_TITLES[lane].lower()}" for lane in LANE_ORDER)
    return {
        "lanes": lanes,
        "summary": ("Shown: " if where.active else "Waiting: ") + waiting + ".",
        "version": snapshot["version"],
        "filters": _filter_form(request, where, user),
    }


# -- sign in and out --------------------------------------------------------------------


async def login_page(request: web.Request) -> web.StreamResponse:
    if current_user(request) is not None:
        raise web.HTTPSeeOther(_local_path(request.query.get("next")))
    request.app[SESSIONS_KEY].anonymous(request)
    return render(
        request,
        "login.html",
        {"next": _local_path(request.query.get("next")), "username": "", "error": ""},
    )


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))
    next_url = _local_path(str(form.get("next", "")))
    address = client_address(request, _ctx(request).settings.trusted_proxies)
    try:
        return await _check_sign_in(request, username, password, address, next_url)
    except UserError:
        log.error("sign-in unavailable: the accounts database cannot be used")
        return _login_refused(
            request,
            next_url,
            username,
            "Signing in is not possible just now. Try again in a few minutes.",
            status=503,
        )


async def _check_sign_in(
    request: web.Request, username: str, password: str, address: str, next_url: str
) -> web.StreamResponse:
    manager = request.app[SESSIONS_KEY]
    limiter = manager.limiter
    # Counted before the hash is checked: requests sent together cannot all be tried.
    attempt = await asyncio.to_thread(limiter.reserve, username, address)
    if attempt is None:
        log.warning("sign-in refused: too many attempts", address=address)
        return _login_refused(
            request,
            next_url,
            username,
            "Too many failed attempts. Wait 15 minutes and try again.",
            status=429,
        )
    store = request.app[USERS_KEY]
    user = await asyncio.to_thread(store.verify_password, username, password) if username else None
    if user is None:
        log.info("sign-in failed", address=address)
        return _login_refused(
            request, next_url, username, "Enter a correct user name and password.", status=401
        )
    await asyncio.to_thread(limiter.succeeded, attempt)
    manager.sign_in(request, user)
    log.info("signed in", user=user.name, role=user.role)
    response = web.HTTPSeeOther(next_url)
    manager.set_cookie(request, response)
    raise response


def _login_refused(
    request: web.Request, next_url: str, username: str, error: str, *, status: int
) -> web.StreamResponse:
    """The sign-in form again, with the name kept and the error shown."""
    return render(
        request,
        "login.html",
        {"next": next_url, "username": username, "error_count": 1, "error": error},
        status=status,
    )


async def logout(request: web.Request) -> web.StreamResponse:
    manager = request.app[SESSIONS_KEY]
    manager.sign_out(request)
    response = web.HTTPSeeOther("/login")
    manager.set_cookie(request, response)
    raise response


# -- queue and items --------------------------------------------------------------------


def _flash(request: web.Request) -> str:
    action = request.query.get("decided", "")
    if action in ACTION_TEXT:
        label = ACTION_TEXT[action][0]
        return f"Decision recorded: {label}. The item leaves the queue once the worker applies it."
    return ""


async def queue_page(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    context = await off_loop(_ctx(request).views, _queue_context, request, user)
    query = request.query_string
    fragment = "/fragments/queue" + (f"?{query}" if query else "")
    context.update({"flash": _flash(request), "fragment_href": fragment})
    return render(request, "queue.html", context)


async def queue_fragment(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    context = await off_loop(_ctx(request).views, _queue_context, request, user)
    return render(request, "_queue.html", context)


def _item_or_404(request: web.Request) -> ReviewItem:
    view = _ctx(request).views.review
    item = view.get(request.match_info["item_id"]) if view is not None else None
    if item is None:
        raise web.HTTPNotFound(text="No such item.")
    found: ReviewItem = item
    return found


MESSAGE_TITLES = {
    "warning": "Written warning",
    "channel_ban": "Channel ban notice",
    "appeal": "How to appeal",
}


def _messages(request: web.Request, item: ReviewItem) -> list[dict[str, str]]:
    """The policy's messages for this case, filled in, for the officer to send."""
    config = _ctx(request).views.moderation_config
    if config is None or item.status != "open":
        return []
    ledger = _ledger(request, item.comment.author_key)
    try:
        found = messages_for(config.messages, item, ledger)
    except MessageError as exc:
        log.warning("a message template failed", error=str(exc))
        return []
    return [{"title": MESSAGE_TITLES.get(m.kind, m.kind), "text": m.text} for m in found]


async def _item_context(request: web.Request, user: User, item: ReviewItem) -> dict[str, Any]:
    context = await off_loop(_ctx(request).views, _core_item_context, request, user, item)
    for extra in request.app[ITEM_EXTRAS]:
        context.update(extra(request, user, item))
    return context


def _core_item_context(request: web.Request, user: User, item: ReviewItem) -> dict[str, Any]:
    view = _one_item(request, user, item)
    return {
        "item": view,
        "card": view.without_actions(),
        "messages": _messages(request, item),
        "full_actions": [] if view.closed else actions_for(item.lane, user.role, item.recommended),
        "categories": [{"value": c, "text": CATEGORY_TEXT[c]} for c in CATEGORIES],
        "form": {
            "action": "",
            "note": "",
            "reference": "",
            "approved_by": "",
            "labels": list(item.verdict.labels if item.verdict else ()),
        },
        "errors": [],
        "error_fields": {},
    }


async def item_page(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    item = await off_loop(_ctx(request).views, _item_or_404, request)
    presence = _ctx(request).views.presence
    if presence is not None and request.method == "GET":
        # Opening the item counts as being on it; the page's heartbeat keeps it so.
        await asyncio.to_thread(presence.touch, item.id, user.name)
    return render(request, "item.html", await _item_context(request, user, item))


def _field_for(message: str) -> str:
    for name in ("reference", "approved_by", "labels"):
        if name in message:
            return name
    return "action"


async def decide(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    form = await request.post()
    action = str(form.get("action", ""))
    labels = tuple(str(v) for v in form.getall("labels", []))
    decision = DecisionRequest(
        item_id=request.match_info["item_id"],
        action=action,
        note=str(form.get("note", "")).strip()[:2000],
        reference=str(form.get("reference", "")).strip()[:200] or None,
        labels=labels if action == "relabel" or labels else None,
        approved_by=str(form.get("approved_by", "")).strip()[:200] or None,
    )
    try:
        await request.app[DECIDE_KEY](_ctx(request), user, decision)
    except DecisionRefused as refused:
        view = _ctx(request).views.review
        item = None
        if view is not None:
            item = await off_loop(_ctx(request).views, view.get, decision.item_id)
        if item is None or refused.status == 403:
            raise _refusal(refused) from None
        context = await _item_context(request, user, item)
        field_name = _field_for(refused.message) if action else "action"
        message = refused.message if action else "Choose a decision."
        context.update(
            {
                "errors": [{"field": field_name, "text": message}],
                "error_fields": {field_name: message},
                "error_count": 1,
                "form": {
                    "action": action,
                    "note": decision.note,
                    "reference": decision.reference or "",
                    "approved_by": decision.approved_by or "",
                    "labels": list(labels),
                },
            }
        )
        return render(request, "item.html", context, status=refused.status)
    log.info("decision sent", item_id=decision.item_id, action=action, user=user.name)
    next_url = _local_path(str(form.get("next", "")), "/")
    separator = "&" if "?" in next_url else "?"
    raise web.HTTPSeeOther(f"{next_url}{separator}decided={quote(action)}")


def _refusal(refused: DecisionRefused) -> web.HTTPException:
    errors: dict[int, type[web.HTTPException]] = {
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
    }
    return errors.get(refused.status, web.HTTPUnprocessableEntity)(text=refused.message)


# -- errors ----------------------------------------------------------------------------

ERROR_HEADINGS = {
    400: "Check the address",
    403: "You cannot do that",
    404: "Page not found",
    409: "Already decided",
    422: "Check what you entered",
    503: "Not available",
}


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Shows errors from the pages as pages; the JSON API keeps its own error bodies."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        wants_page = not request.path.startswith(("/api/", "/static/", "/events/"))
        if not wants_page or error.status not in ERROR_HEADINGS:
            raise
        context = {"heading": ERROR_HEADINGS[error.status], "message": error.text or ""}
        return render(request, "error.html", context, status=error.status)


# -- set-up -----------------------------------------------------------------------------


def _user_store(ctx: WorkerContext) -> UserStore:
    if ctx.views.users is None:
        ctx.views.users = open_store(ctx.settings)
    return ctx.views.users


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


async def _stop_live(web_app: web.Application) -> None:
    web_app[PAGES_KEY].stopping.set()


def setup(web_app: web.Application, ctx: WorkerContext) -> None:
    """The pages' state, middlewares and core routes; worker/web/app.py then adds the
    areas built on them (live, authors, replies, reports), which import this module."""
    csp.setup(web_app)
    web_app[CTX] = ctx
    web_app[JINJA] = _environment()
    web_app[PAGES_KEY] = PageState()
    store = web_app[USERS_KEY] = _user_store(ctx)
    settings = ctx.settings
    codec = SessionCodec(
        load_secret(settings),
        lifetime=timedelta(hours=settings.web_session_lifetime_hours),
        idle=timedelta(minutes=settings.web_session_idle_minutes),
    )
    web_app[SESSIONS_KEY] = SessionManager(
        codec,
        ctx.clock,
        LoginLimiter(ctx.clock, store.database),
        store,
        secure_cookies=settings.secure_cookies,
    )
    if ctx.views.presence is None:
        ctx.views.presence = PresenceBoard(store.database, ctx.clock, settings.web_presence_ttl_s)
    web_app[DECIDE_KEY] = submit_decision
    web_app[ITEM_EXTRAS] = []
    web_app.middlewares.append(refresh_middleware)
    web_app.middlewares.append(error_pages)
    web_app.middlewares.append(csrf_middleware)
    web_app.on_shutdown.append(_stop_live)
    if not GOVUK_DIST.is_dir():
        log.warning("govuk-frontend is not installed: run `npm ci`; pages will be unstyled")
    else:
        web_app.router.add_static("/static/govuk/", GOVUK_DIST, append_version=False)
    web_app.router.add_static("/static/app/", STATIC_DIR)
    web_app.router.add_get("/login", login_page)
    web_app.router.add_post("/login", login)
    web_app.router.add_post("/logout", logout)
    web_app.router.add_get("/", queue_page)
    web_app.router.add_get("/fragments/queue", queue_fragment)
    web_app.router.add_get("/items/{item_id}", item_page)
    web_app.router.add_post("/items/{item_id}/decision", decide)
