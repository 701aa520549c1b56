"""Who is asking: API tokens or the officers' app session, and what their role allows.

Every request needs a user, except the few public paths below. A request with an
``Authorization: Bearer`` token is judged by that token alone; otherwise the signed-in
session of the officers' app (worker/web/session.py) is used when that module exists.
Without a user, /api/* answers 401 in JSON and pages redirect to the sign-in page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from records.moderation import Role
from worker.context import WorkerContext
from worker.moderation.decisions import REQUIRED_ROLE
from worker.users import User, UserError, UserStore, open_store
from worker.web.session import user_from_session

# Probes must answer without an account (/ready carries no data); /login must be reachable.
# /metrics is public only when TRIAGE_METRICS_TOKEN is set: ops.py then checks that token.
PUBLIC_PATHS = frozenset({"/health", "/ready", "/login"})
PUBLIC_PREFIXES = ("/static/",)

USER_KEY = web.RequestKey("user", User)
STORE_KEY = web.AppKey("user_store", UserStore)

# The least role for each permission: the decision actions, plus these.
PERMISSIONS: dict[str, Role] = {
    "view": "viewer",
    "export_audit": "officer",
    "emergency": "manager",
    "manage_users": "admin",
}
PERMISSIONS.update({str(action): role for action, role in REQUIRED_ROLE.items()})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SessionLookup = Callable[[web.Request], "User | None"]


def is_public(path: str, metrics_token_set: bool = False) -> bool:
    if path == "/metrics":
        return metrics_token_set
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def can(user: User | None, permission: str) -> bool:
    """Whether the user's role allows ``permission`` (an action name or one above)."""
    if user is None or permission not in PERMISSIONS:
        return False
    return user.at_least(PERMISSIONS[permission])


def error_response(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def _http_error(status: int, message: str) -> web.HTTPException:
    cls = {401: web.HTTPUnauthorized, 403: web.HTTPForbidden}[status]
    return cls(
        text=web.json_response({"error": message}).text,
        content_type="application/json",
    )


def current_user(request: web.Request) -> User:
    """The request's user (set by the middleware); 401 when there is none."""
    user = request.get(USER_KEY)
    if not isinstance(user, User):
        raise _http_error(401, "sign in or send an API token")
    return user


def require_permission(request: web.Request, permission: str) -> User:
    user = current_user(request)
    if not can(user, permission):
        needed = PERMISSIONS.get(permission, "admin")
        raise _http_error(403, f"this needs the {needed} role (you are {user.role})")
    return user


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _refuse(request: web.Request, message: str) -> web.StreamResponse:
    if request.path.startswith("/api/") or request.headers.get("Authorization"):
        return error_response(401, message, **{"WWW-Authenticate": 'Bearer realm="triage"'})
    target = request.path_qs
    raise web.HTTPSeeOther(location="/login?next=" + quote(target, safe=""))


def _middleware(
    store: UserStore, session_lookup: SessionLookup | None, metrics_token_set: bool
) -> Any:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_public(request.path, metrics_token_set):
            return await handler(request)
        token = _bearer(request)
        user: User | None = None
        try:
            if token is not None:
                # A token, if sent, decides alone: a bad one is never rescued by a cookie.
                user = store.user_for_token(token) if token else None
                if user is None:
                    return _refuse(request, "invalid API token")
            elif session_lookup is not None:
                user = session_lookup(request)
        except UserError:
            return error_response(
                503, "the accounts database cannot be used; tell an administrator"
            )
        if user is None:
            return _refuse(request, "sign in or send an API token (Authorization: Bearer ...)")
        request[USER_KEY] = user
        return await handler(request)

    return authenticate


def user_store(ctx: WorkerContext) -> UserStore:
    """The one UserStore of this worker (shared with the sign-in pages)."""
    if ctx.views.users is None:
        ctx.views.users = open_store(ctx.settings)
    return ctx.views.users


def setup(web_app: web.Application, ctx: WorkerContext) -> None:
    store = user_store(ctx)
    web_app[STORE_KEY] = store
    metrics_token_set = ctx.settings.metrics_token is not None
    web_app.middlewares.append(_middleware(store, user_from_session, metrics_token_set))
