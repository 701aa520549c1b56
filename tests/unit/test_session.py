"""Signed session cookies, the session secret, the sign-in rate limit and TLS detection."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import make_mocked_request
from sqlalchemy import select

from worker.clock import ManualClock
from worker.db import Database
from worker.db.models import SignInAttempt
from worker.settings import Settings
from worker.web.session import LoginLimiter, SessionCodec, is_secure, load_secret, new_session

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SECRET = b"0123456789abcdef0123456789abcdef"


def test_a_session_survives_the_round_trip() -> None:
    """A cookie value made from a session reads back as the same session."""
    codec = SessionCodec(SECRET)
    session = new_session(NOW.timestamp(), "olivia")
    assert codec.decode(codec.encode(session), NOW.timestamp() + 60) == session


def test_an_altered_cookie_is_refused() -> None:
    """Changing any character of the payload breaks the signature."""
    codec = SessionCodec(SECRET)
    value = codec.encode(new_session(NOW.timestamp(), "victor"))
    payload, _, signature = value.partition(".")
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature
    assert codec.decode(forged, NOW.timestamp()) is None


def test_a_cookie_signed_with_another_secret_is_refused() -> None:
    """A session made under one secret is worthless under another."""
    value = SessionCodec(SECRET).encode(new_session(NOW.timestamp(), "maya"))
    assert SessionCodec(b"another-secret-of-32-bytes-long!").decode(value, NOW.timestamp()) is None


@pytest.mark.parametrize("value", ["", "no-dot", "!!!.???", "e30.", ".abc", "a.b.c"])
def test_malformed_cookies_are_refused(value: str) -> None:
    """Garbage in the cookie gives no session rather than an error."""
    assert SessionCodec(SECRET).decode(value, NOW.timestamp()) is None


def test_a_session_expires_after_its_lifetime() -> None:
    """A session is good within its lifetime and refused after it (and before it began)."""
    codec = SessionCodec(SECRET, lifetime=timedelta(hours=10), idle=timedelta(hours=11))
    value = codec.encode(new_session(NOW.timestamp(), "olivia"))
    assert codec.decode(value, (NOW + timedelta(hours=9, minutes=59)).timestamp()) is not None
    assert codec.decode(value, (NOW + timedelta(hours=10)).timestamp()) is None
    assert codec.decode(value, (NOW - timedelta(minutes=1)).timestamp()) is None


def test_a_signed_in_session_ends_when_idle() -> None:
    """A signed-in session is refused once its last activity is the idle timeout ago."""
    codec = SessionCodec(SECRET, idle=timedelta(minutes=30))
    session = new_session(NOW.timestamp(), "olivia")
    value = codec.encode(session)
    assert codec.decode(value, (NOW + timedelta(minutes=29)).timestamp()) is not None
    assert codec.decode(value, (NOW + timedelta(minutes=30)).timestamp()) is None
    active = replace(session, seen_at=(NOW + timedelta(minutes=29)).timestamp())
    later = (NOW + timedelta(minutes=50)).timestamp()
    assert codec.decode(codec.encode(active), later) == active
    assert codec.max_age(active, later) == 9 * 60
    # A signed-out session only carries the sign-in form's token: no idle timeout.
    assert codec.decode(codec.encode(new_session(NOW.timestamp())), later) is not None


def test_a_short_secret_is_refused() -> None:
    """The codec will not sign with a secret too short to be safe."""
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SessionCodec(b"short")


def test_new_sessions_have_their_own_id_and_token() -> None:
    """Two sessions never share an id or a CSRF token."""
    one, two = new_session(0, None), new_session(0, None)
    assert one.sid != two.sid
    assert one.csrf != two.csrf


def test_a_configured_secret_is_used(tmp_path):
    """TRIAGE_SESSION_SECRET wins over the generated file."""
    settings = Settings(data_dir=tmp_path, session_secret="configured-secret-value")
    assert load_secret(settings) == b"configured-secret-value"
    assert not (tmp_path / "session-secret").exists()


def test_a_generated_secret_is_kept_private_and_reused(tmp_path):
    """Without a configured secret one is generated once, mode 0600, and read back after."""
    settings = Settings(data_dir=tmp_path / "data")
    first = load_secret(settings)
    second = load_secret(settings)
    path = tmp_path / "data" / "session-secret"
    assert first == second
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sign_in_is_refused_after_five_attempts_for_a_user_and_address(database) -> None:
    """Five failed attempts lock that user name from that address; others are not affected."""
    limiter = LoginLimiter(ManualClock(NOW), database)
    for _ in range(5):
        assert limiter.reserve("olivia", "10.0.0.1") is not None
    assert limiter.reserve("olivia", "10.0.0.1") is None
    assert limiter.reserve("OLIVIA", "10.0.0.1") is None
    assert limiter.reserve("olivia", "10.0.0.2") is not None
    assert limiter.reserve("maya", "10.0.0.1") is not None


def test_the_lock_lifts_when_the_window_has_passed(database) -> None:
    """Attempts older than the window no longer count."""
    clock = ManualClock(NOW)
    limiter = LoginLimiter(clock, database, window=timedelta(minutes=15))
    for _ in range(5):
        limiter.reserve("olivia", "10.0.0.1")
    assert limiter.blocked("olivia", "10.0.0.1")
    clock.advance(timedelta(minutes=15, seconds=1))
    assert not limiter.blocked("olivia", "10.0.0.1")


def test_one_address_trying_many_names_is_stopped(database) -> None:
    """An address is refused once it has tried many names within the window."""
    limiter = LoginLimiter(ManualClock(NOW), database, per_user=5, per_address=10)
    for n in range(10):
        limiter.reserve(f"user{n}", "10.0.0.9")
    assert limiter.reserve("someone-new", "10.0.0.9") is None
    assert limiter.reserve("someone-new", "10.0.0.8") is not None


def test_many_addresses_trying_one_name_are_stopped(database) -> None:
    """A name is refused from every address once it has been tried too often from many."""
    limiter = LoginLimiter(ManualClock(NOW), database, per_user=5, per_address=30, per_account=20)
    for n in range(20):
        assert limiter.reserve("olivia", f"10.0.1.{n}") is not None
    assert limiter.reserve("olivia", "10.0.2.1") is None
    assert limiter.reserve("maya", "10.0.2.1") is not None


def test_a_success_gives_its_attempt_back_and_clears_the_pair(database) -> None:
    """Signing in correctly forgets the pair's failures and is not itself a failure."""
    limiter = LoginLimiter(ManualClock(NOW), database, per_user=5, per_address=5, per_account=5)
    for _ in range(4):
        limiter.reserve("olivia", "10.0.0.1")
    attempt = limiter.reserve("olivia", "10.0.0.1")
    assert attempt is not None
    limiter.succeeded(attempt)
    # Five reserved, one given back: the address and the account have room for exactly one.
    assert limiter.reserve("olivia", "10.0.0.1") is not None
    assert limiter.reserve("olivia", "10.0.0.1") is None


def test_a_refused_attempt_counts_nothing(database) -> None:
    """Attempts refused at the limit do not push the lock further out."""
    clock = ManualClock(NOW)
    limiter = LoginLimiter(clock, database, window=timedelta(minutes=15))
    for _ in range(5):
        limiter.reserve("olivia", "10.0.0.1")
    clock.advance(timedelta(minutes=10))
    for _ in range(100):
        assert limiter.reserve("olivia", "10.0.0.1") is None
    clock.advance(timedelta(minutes=5, seconds=1))
    assert limiter.reserve("olivia", "10.0.0.1") is not None


def test_two_processes_on_one_database_count_the_same_failures(database) -> None:
    """Limiters on their own engines (two web processes) share one count per name."""
    clock = ManualClock(NOW)
    other_db = Database(database.url.render_as_string(hide_password=False))
    first, second = LoginLimiter(clock, database), LoginLimiter(clock, other_db)
    for n in range(5):
        assert (first if n % 2 else second).reserve("olivia", "10.0.0.1") is not None
    assert first.reserve("olivia", "10.0.0.1") is None
    assert second.reserve("olivia", "10.0.0.1") is None
    assert second.blocked("olivia", "10.0.0.1")
    other_db.close()


def test_attempts_reserved_at_once_from_many_threads_stay_within_the_limit(database) -> None:
    """Forty reservations racing on two engines admit exactly the five the limit allows."""
    clock = ManualClock(NOW)
    other_db = Database(database.url.render_as_string(hide_password=False))
    limiters = [LoginLimiter(clock, database), LoginLimiter(clock, other_db)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: limiters[n % 2].reserve("olivia", "10.0.0.1"), range(40)))
    assert sum(result is not None for result in results) == 5
    other_db.close()


def test_the_table_keeps_no_names_or_addresses(database) -> None:
    """Attempts are stored under digests: the table holds no user name or address."""
    LoginLimiter(ManualClock(NOW), database).reserve("olivia", "10.0.0.1")
    with database.read() as session:
        keys = list(session.scalars(select(SignInAttempt.key)))
    assert len(keys) == 3
    assert not any("olivia" in key or "10.0.0.1" in key for key in keys)


@pytest.mark.parametrize(
    ("headers", "secure"),
    [
        ({}, False),
        ({"X-Forwarded-Proto": "https"}, True),
        ({"X-Forwarded-Proto": "http"}, False),
        ({"X-Forwarded-Proto": "HTTPS, http"}, True),
    ],
)
def test_tls_is_seen_directly_or_through_a_proxy(headers: dict[str, str], secure: bool) -> None:
    """Cookies are marked Secure when the browser used https, even through a proxy."""
    assert is_secure(make_mocked_request("GET", "/", headers=headers)) is secure
