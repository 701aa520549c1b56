"""Signed session cookies, CSRF tokens bound to the session and a sign-in rate limit.

The cookie holds a small JSON payload (session id, user name, CSRF token, issue time)
and an HMAC-SHA256 of it under a server secret, so it cannot be forged or altered.
Every session, signed in or not, carries its own CSRF token: the sign-in form is
protected the same way as the decision buttons. A new session (new id, new token) is
issued on sign-in, so a token seen before sign-in is worthless afterwards.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from worker.clock import Clock
from worker.settings import Settings
from worker.users import User, UserStore

__all__ = [
    "COOKIE_NAME",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSIONS_KEY",
    "USERS_KEY",
    "LoginLimiter",
    "Session",
    "SessionCodec",
    "SessionManager",
    "csrf_middleware",
    "is_secure",
    "load_secret",
    "user_from_session",
]

COOKIE_NAME = "triage_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = timedelta(hours=10)  # one long working day; sign in again tomorrow
SECRET_FILE = "session-secret"  # noqa: S105 - a file name, not a secret
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    csrf: str
    issued_at: float
    username: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.username is not None


def new_session(now: float, username: str | None = None) -> Session:
    return Session(
        sid=secrets.token_urlsafe(18),
        csrf=secrets.token_urlsafe(24),
        issued_at=now,
        username=username,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# The request's session, read once per request (None: no valid session).
SESSION: web.RequestKey[Session | None] = web.RequestKey("session")


class SessionCodec:
    """Turns a Session into a tamper-proof cookie value and back."""

    def __init__(self, secret: bytes, lifetime: timedelta = SESSION_LIFETIME) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret
        self._lifetime = lifetime.total_seconds()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def encode(self, session: Session) -> str:
        body = {"s": session.sid, "c": session.csrf, "t": session.issued_at, "u": session.username}
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, value: str, now: float) -> Session | None:
        """The session in a cookie value, or None if forged, altered, malformed or expired."""
        payload_text, dot, signature_text = value.partition(".")
        if not dot:
            return None
        try:
            payload = _unb64(payload_text)
            signature = _unb64(signature_text)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            body = json.loads(payload)
            session = Session(
                sid=str(body["s"]),
                csrf=str(body["c"]),
                issued_at=float(body["t"]),
                username=None if body["u"] is None else str(body["u"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if not session.issued_at <= now < session.issued_at + self._lifetime:
            return None
        return session


def load_secret(settings: Settings) -> bytes:
    """The configured secret, or one generated once and kept (mode 0600) in data_dir."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode("utf-8")
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    generated = secrets.token_urlsafe(48).encode("ascii")
    with os.fdopen(fd, "wb") as handle:
        handle.write(generated)
    return generated


class LoginLimiter:
    """Counts failed sign-ins per user name and address, and per address alone.

    A pair is refused after ``per_user`` failures inside the window; an address after
    ``per_address`` (one address trying many names). A success clears the pair.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        per_user: int = 5,
        per_address: int = 30,
        window: timedelta = timedelta(minutes=15),
    ) -> None:
        self._clock = clock
        self._per_user = per_user
        self._per_address = per_address
        self._window = window.total_seconds()
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        now = self._clock.now().timestamp()
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[key]
            return deque()
        return times

    def blocked(self, username: str, address: str) -> bool:
        pair = (username.casefold(), address)
        return (
            len(self._recent(pair)) >= self._per_user
            or len(self._recent(("", address))) >= self._per_address
        )

    def failed(self, username: str, address: str) -> None:
        now = self._clock.now().timestamp()
        for key in ((username.casefold(), address), ("", address)):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop((username.casefold(), address), None)


def is_secure(request: web.Request) -> bool:
    """Whether the browser reached us over TLS, directly or through a TLS-ending proxy."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


class SessionManager:
    """Reads, issues and ends sessions; remembers ended ones until they would expire."""

    def __init__(self, codec: SessionCodec, clock: Clock, limiter: LoginLimiter) -> None:
        self.codec = codec
        self.clock = clock
        self.limiter = limiter
        self._ended: dict[str, float] = {}

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def read(self, request: web.Request) -> Session | None:
        if SESSION in request:
            return request[SESSION]
        value = request.cookies.get(COOKIE_NAME)
        session = self.codec.decode(value, self._now()) if value else None
        if session is not None and session.sid in self._ended:
            session = None
        request[SESSION] = session
        return session

    def anonymous(self, request: web.Request) -> Session:
        """The request's session, or a fresh signed-out one (for the sign-in form)."""
        session = self.read(request)
        if session is None:
            session = new_session(self._now())
            request[SESSION] = session
        return session

    def sign_in(self, request: web.Request, username: str) -> Session:
        previous = self.read(request)
        if previous is not None:
            self._forget(previous)
        session = new_session(self._now(), username)
        request[SESSION] = session
        return session

    def sign_out(self, request: web.Request) -> None:
        session = self.read(request)
        if session is not None:
            self._forget(session)
        request[SESSION] = None

    def _forget(self, session: Session) -> None:
        now = self._now()
        lifetime = SESSION_LIFETIME.total_seconds()
        self._ended = {sid: t for sid, t in self._ended.items() if t + lifetime > now}
        self._ended[session.sid] = session.issued_at

    def set_cookie(self, request: web.Request, response: web.StreamResponse) -> None:
        session = request.get(SESSION)
        if session is None:
            response.del_cookie(
                COOKIE_NAME, path="/", secure=is_secure(request), httponly=True, samesite="Lax"
            )
            return
        response.set_cookie(
            COOKIE_NAME,
            self.codec.encode(session),
            path="/",
            httponly=True,
            samesite="Lax",
            secure=is_secure(request),
            max_age=int(SESSION_LIFETIME.total_seconds()),
        )

    def csrf_valid(self, request: web.Request, token: str | None) -> bool:
        session = self.read(request)
        return bool(session and token and hmac.compare_digest(session.csrf, token))


SESSIONS_KEY = web.AppKey("sessions", SessionManager)
USERS_KEY = web.AppKey("users", UserStore)


def user_from_session(request: web.Request) -> User | None:
    """The signed-in user behind the request's session cookie, or None.

    Called by the authentication middleware; the user is looked up afresh so that a
    removed user or a changed role takes effect at once.
    """
    manager = request.app.get(SESSIONS_KEY)
    if manager is None:
        return None
    session = manager.read(request)
    if session is None or session.username is None:
        return None
    store = request.app.get(USERS_KEY)
    return None if store is None else store.get(session.username)


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuses a state-changing request made with the session cookie but without its token.

    Requests that carry an API token (Authorization header) are exempt: a browser on
    another site cannot add that header, so they cannot be forged that way.
    """
    if request.method not in UNSAFE_METHODS or request.headers.get("Authorization"):
        return await handler(request)
    manager = request.app[SESSIONS_KEY]
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        field = form.get(CSRF_FIELD)
        token = field if isinstance(field, str) else None
    if manager.csrf_valid(request, token):
        return await handler(request)
    if _wants_json(request):
        return web.json_response({"error": "missing or invalid CSRF token"}, status=403)
    raise web.HTTPForbidden(
        text="This form has expired or did not come from this site. "
        "Go back, reload the page and try again."
    )
