"""Signed session cookies, CSRF tokens bound to the session and a sign-in rate limit.

The cookie holds a small JSON payload (session id, user name, the account's session
stamp, CSRF token, sign-in time, last activity) and an HMAC-SHA256 of it under a server
secret, so it cannot be forged or altered. Every session, signed in or not, carries its
own CSRF token: the sign-in form is protected the same way as the decision buttons. A
new session (new id, new token) is issued on sign-in, so a token seen before sign-in is
worthless afterwards.

Nothing about sessions is kept in the process, so that every worker behind one address
agrees and a restart changes nothing. A signed-in session is good while
- its account's stamp (worker/users.py) is the one in the cookie: signing out, a new
  password or removing the account changes it, ending every session of that account;
- the last request was less than the idle timeout ago (the cookie is re-issued with the
  new time as the officer works; background refreshes do not count);
- it began less than the absolute lifetime ago.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session as DbSession

from worker.clock import Clock
from worker.db import Database
from worker.db.models import SignInAttempt
from worker.settings import Settings
from worker.users import User, UserError, UserStore

__all__ = [
    "COOKIE_NAME",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSIONS_KEY",
    "USERS_KEY",
    "Attempt",
    "LoginLimiter",
    "Session",
    "SessionCodec",
    "SessionManager",
    "csrf_middleware",
    "is_secure",
    "load_secret",
    "refresh_middleware",
    "user_from_session",
]

COOKIE_NAME = "triage_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = timedelta(hours=10)  # one long working day; sign in again tomorrow
IDLE_TIMEOUT = timedelta(minutes=30)
# Re-issue the cookie at most this often: activity is known to within a minute.
REFRESH_AFTER_S = 60.0
# Requests the page makes by itself (live queue updates): they keep no one signed in.
BACKGROUND_PREFIXES = ("/events/", "/fragments/", "/static/")
SECRET_FILE = "session-secret"  # noqa: S105 - a file name, not a secret
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    csrf: str
    issued_at: float
    username: str | None = None
    # The account's session stamp when the session began (worker/users.py).
    stamp: str | None = None
    # The last request the officer made; 0 means "when issued".
    seen_at: float = 0.0

    @property
    def signed_in(self) -> bool:
        return self.username is not None

    @property
    def last_seen(self) -> float:
        return self.seen_at or self.issued_at


def new_session(now: float, username: str | None = None, stamp: str | None = None) -> Session:
    return Session(
        sid=secrets.token_urlsafe(18),
        csrf=secrets.token_urlsafe(24),
        issued_at=now,
        username=username,
        stamp=stamp,
        seen_at=now,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# The request's session, read once per request (None: no valid session).
SESSION: web.RequestKey[Session | None] = web.RequestKey("session")
# Set once a handler has put a cookie on the response itself (sign-in, sign-out).
COOKIE_SET: web.RequestKey[bool] = web.RequestKey("session_cookie_set")


class SessionCodec:
    """Turns a Session into a tamper-proof cookie value and back."""

    def __init__(
        self,
        secret: bytes,
        lifetime: timedelta = SESSION_LIFETIME,
        idle: timedelta = IDLE_TIMEOUT,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret
        self.lifetime = lifetime.total_seconds()
        self.idle = idle.total_seconds()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def encode(self, session: Session) -> str:
        body = {
            "s": session.sid,
            "c": session.csrf,
            "t": session.issued_at,
            "l": session.last_seen,
            "u": session.username,
            "a": session.stamp,
        }
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, value: str, now: float) -> Session | None:
        """The session in a cookie value, or None if forged, altered, malformed or expired.

        A signed-in session also expires after ``idle`` without activity; a signed-out one
        (it only carries the sign-in form's CSRF token) lasts its lifetime.
        """
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
                stamp=None if body.get("a") is None else str(body["a"]),
                seen_at=float(body.get("l") or body["t"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        return session if self.alive(session, now) else None

    def alive(self, session: Session, now: float) -> bool:
        """Within its lifetime and, when signed in, active within the idle timeout."""
        if not session.issued_at <= now < session.issued_at + self.lifetime:
            return False
        return not session.signed_in or now < session.last_seen + self.idle

    def max_age(self, session: Session, now: float) -> int:
        """Seconds the browser should keep the cookie: as long as the server would take it."""
        end = session.issued_at + self.lifetime
        if session.signed_in:
            end = min(end, session.last_seen + self.idle)
        return max(0, int(end - now))


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


# (kind, digest of the name and/or address): the table holds no names or addresses.
Key = tuple[str, str]
# Any fixed number: reserving attempts in two processes at once happens one at a time.
LIMITER_LOCK = 7_113_014


@dataclass(frozen=True, slots=True)
class Attempt:
    """A sign-in attempt counted before its password is checked."""

    keys: tuple[Key, ...]
    at: float
    # Marks the attempt's rows, so that a success can take them back.
    token: str


def _key(kind: str, *parts: str) -> Key:
    return kind, hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


class LoginLimiter:
    """Counts sign-in attempts per user name and address, per address, and per account.

    The attempts are rows in the database (worker/db/), so every web process sharing it
    counts the same failures. An attempt is counted (reserved) before its password is
    checked, so that requests sent together, to one process or several, cannot all be
    tried while the first ones are still being hashed; a success takes its own attempt
    back and clears the failures of its name and address. Refused: a name from one
    address after ``per_user`` attempts inside the window, an address after
    ``per_address`` (one address trying many names), a name from any addresses after
    ``per_account`` (many addresses trying one name). The calls block: call them from
    a thread.
    """

    def __init__(
        self,
        clock: Clock,
        database: Database,
        *,
        per_user: int = 5,
        per_address: int = 30,
        per_account: int = 20,
        window: timedelta = timedelta(minutes=15),
    ) -> None:
        self._clock = clock
        self._database = database
        self._window = window.total_seconds()
        self._limits = {"pair": per_user, "address": per_address, "account": per_account}

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _keys(self, username: str, address: str) -> tuple[Key, ...]:
        name = username.casefold()
        return (_key("pair", name, address), _key("address", address), _key("account", name))

    def _blocked(self, session: DbSession, keys: tuple[Key, ...], now: float) -> bool:
        for kind, key in keys:
            recent = session.scalar(
                select(func.count())
                .select_from(SignInAttempt)
                .where(
                    SignInAttempt.kind == kind,
                    SignInAttempt.key == key,
                    SignInAttempt.at > now - self._window,
                )
            )
            if (recent or 0) >= self._limits[kind]:
                return True
        return False

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            # Not str(exc): it carries the statement's parameters.
            raise UserError(
                f"the accounts database cannot be used ({type(exc).__name__})"
            ) from None

    def blocked(self, username: str, address: str) -> bool:
        with self._errors(), self._database.read() as session:
            return self._blocked(session, self._keys(username, address), self._now())

    def reserve(self, username: str, address: str) -> Attempt | None:
        """Counts an attempt now, or None (nothing counted) when a limit is reached.
        Raises UserError when the database cannot be used."""
        now = self._now()
        keys = self._keys(username, address)
        with self._errors(), self._database.write() as session:
            self._database.serialise(session, LIMITER_LOCK)
            # Names and addresses that stopped trying would otherwise stay for ever.
            session.execute(delete(SignInAttempt).where(SignInAttempt.at <= now - self._window))
            if self._blocked(session, keys, now):
                return None
            token = secrets.token_hex(16)
            session.add_all(
                SignInAttempt(kind=kind, key=key, at=now, attempt=token) for kind, key in keys
            )
        return Attempt(keys, now, token)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the attempt was no failure, and its pair starts afresh."""
        (kind, key), *_ = attempt.keys
        with self._errors(), self._database.write() as session:
            session.execute(
                delete(SignInAttempt).where(
                    or_(
                        and_(SignInAttempt.kind == kind, SignInAttempt.key == key),
                        SignInAttempt.attempt == attempt.token,
                    )
                )
            )


def is_secure(request: web.Request) -> bool:
    """Whether the browser reached us over TLS, directly or through a TLS-ending proxy.

    X-Forwarded-Proto is believed from anyone: it can only make cookies stricter.
    """
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


class SessionManager:
    """Reads, issues, refreshes and ends sessions; the users store keeps what ends them."""

    def __init__(
        self,
        codec: SessionCodec,
        clock: Clock,
        limiter: LoginLimiter,
        store: UserStore,
        *,
        secure_cookies: bool = False,
    ) -> None:
        self.codec = codec
        self.clock = clock
        self.limiter = limiter
        self.store = store
        self.secure_cookies = secure_cookies

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def read(self, request: web.Request) -> Session | None:
        """The request's valid session, or None (expired, forged, or its account's
        sessions ended). Raises UserError when the accounts database cannot be used."""
        if SESSION in request:
            return request[SESSION]
        value = request.cookies.get(COOKIE_NAME)
        session = self.codec.decode(value, self._now()) if value else None
        if session is not None and session.username is not None and not self._current(session):
            session = None
        request[SESSION] = session
        return session

    def _current(self, session: Session) -> bool:
        assert session.username is not None
        stamp = self.store.session_stamp(session.username)
        return (
            stamp is not None
            and session.stamp is not None
            and hmac.compare_digest(stamp, session.stamp)
        )

    def still_valid(self, session: Session) -> bool:
        """Whether a session read earlier is still good now (for long-lived responses)."""
        if not self.codec.alive(session, self._now()):
            return False
        return session.username is None or self._current(session)

    def user(self, request: web.Request) -> User | None:
        session = self.read(request)
        if session is None or session.username is None:
            return None
        return self.store.get(session.username)

    def anonymous(self, request: web.Request) -> Session:
        """The request's session, or a fresh signed-out one (for the sign-in form)."""
        session = self.read(request)
        if session is None:
            session = new_session(self._now())
            request[SESSION] = session
        return session

    def sign_in(self, request: web.Request, user: User) -> Session:
        session = new_session(self._now(), user.name, self.store.session_stamp(user.name))
        request[SESSION] = session
        return session

    def sign_out(self, request: web.Request) -> None:
        """Ends this user's sessions everywhere (every browser, every worker)."""
        session = self.read(request)
        if session is not None and session.username is not None:
            self.store.end_sessions(session.username)
        request[SESSION] = None

    def set_cookie(self, request: web.Request, response: web.StreamResponse) -> None:
        request[COOKIE_SET] = True
        session = request.get(SESSION)
        secure = self.secure_cookies or is_secure(request)
        if session is None:
            response.del_cookie(COOKIE_NAME, path="/", secure=secure, httponly=True, samesite="Lax")
            return
        response.set_cookie(
            COOKIE_NAME,
            self.codec.encode(session),
            path="/",
            httponly=True,
            samesite="Lax",
            secure=secure,
            max_age=self.codec.max_age(session, self._now()),
        )

    def refresh(self, request: web.Request, response: web.StreamResponse) -> None:
        """Moves a signed-in session's last activity to now, when it is due."""
        session = request.get(SESSION)
        if (
            session is None
            or not session.signed_in
            or request.get(COOKIE_SET)
            or request.path.startswith(BACKGROUND_PREFIXES)
        ):
            return
        now = self._now()
        if now - session.last_seen < REFRESH_AFTER_S:
            return
        request[SESSION] = replace(session, seen_at=now)
        self.set_cookie(request, response)

    def csrf_valid(self, request: web.Request, token: str | None) -> bool:
        session = self.read(request)
        return bool(session and token and hmac.compare_digest(session.csrf, token))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSIONS_KEY = web.AppKey("sessions", SessionManager)
USERS_KEY = web.AppKey("users", UserStore)


@web.middleware
async def refresh_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Re-issues a signed-in session's cookie on the way out when its activity is due."""
    manager = request.app[SESSIONS_KEY]
    try:
        response = await handler(request)
    except web.HTTPException as error:  # redirects after a decision are activity too
        manager.refresh(request, error)
        raise
    if not response.prepared:
        manager.refresh(request, response)
    return response


def user_from_session(request: web.Request) -> User | None:
    """The signed-in user behind the request's session cookie, or None.

    Called by the authentication middleware; the user is looked up afresh so that a
    removed user, ended sessions or a changed role take effect at once.
    """
    manager = request.app.get(SESSIONS_KEY)
    return None if manager is None else manager.user(request)


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )


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
