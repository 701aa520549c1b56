"""Officers' accounts: names, roles, argon2 password hashes and hashed API tokens.

One JSON file (``TRIAGE_USERS_FILE``, default ``<data_dir>/users.json``), written
atomically with mode 0600. Tokens are shown once when made and stored only as a
SHA-256 digest: they are long random strings, so a fast hash is enough, and it lets a
request's token be found without trying every user. Passwords use argon2id.
The store re-reads the file when it changes, so ``triage users`` works on a running
worker, and writes hold a lock on ``<file>.lock`` so that the CLI and workers sharing the
file do not lose each other's changes.

Each account has a random id and a session generation; together they are the account's
session stamp, which the officers' app writes into every session cookie. Signing out,
changing the password or removing the account changes the stamp, which ends every session
of that account in every worker, before or after a restart (worker/web/session.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from records.moderation import ROLES, Role, role_at_least
from worker.settings import Settings

__all__ = [
    "MIN_PASSWORD_CHARS",
    "NAME_PATTERN",
    "TOKEN_PREFIX",
    "User",
    "UserError",
    "UserStore",
    "users_path",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
TOKEN_PREFIX = "tri_"  # noqa: S105 - a marker, not a secret
MIN_PASSWORD_CHARS = 10


class UserError(ValueError):
    """A user cannot be added, found or changed; the message says why."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role

    def at_least(self, role: Role) -> bool:
        return role_at_least(self.role, role)


def users_path(settings: Settings) -> Path:
    return settings.users_file or settings.data_dir / "users.json"


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise UserError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")


def _next_generation(entry: dict[str, Any]) -> dict[str, Any]:
    return {"session_generation": int(entry.get("session_generation", 0)) + 1}


class UserStore:
    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self._hasher = hasher or PasswordHasher()
        self._data: dict[str, Any] = {"users": {}}
        self._stamp: tuple[int, ...] | None = None

    # -- file -------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._data, self._stamp = {"users": {}}, None
            return self._data
        # Every write replaces the file (new inode): a change of the same size in the same
        # clock tick is still seen.
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise UserError(f"cannot read the users file {self.path.name}: {exc}") from None
            if not isinstance(data, dict) or not isinstance(data.get("users"), dict):
                raise UserError(f"the users file {self.path.name} is not a users file")
            self._data, self._stamp = data, stamp
        return self._data

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict[str, Any]]:
        """The file's current data, under the write lock; save what the caller changes."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._stamp = None  # read afresh: another process may have just written
            yield self._load()
        finally:
            os.close(fd)  # closing releases the lock

    def _save(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".users-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._stamp = None
        self._load()

    # -- users ------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str) -> User:
        if not NAME_PATTERN.match(name):
            raise UserError("a user name is 1-64 letters, digits or . _ @ - (no spaces)")
        checked = _check_role(role)
        hashed = self._hash_new(password)
        with self._changing() as data:
            if name in data["users"]:
                raise UserError(f"user {name!r} already exists")
            users = dict(data["users"])
            users[name] = {
                "role": checked,
                "password": hashed,
                "tokens": [],
                "created_at": datetime.now(UTC).isoformat(),
                # A new account, even under an old name, never accepts the old one's cookies.
                "account_id": secrets.token_urlsafe(12),
                "session_generation": 0,
            }
            self._save({**data, "users": users})
        return User(name, checked)

    def _hash_new(self, password: str) -> str:
        if len(password) < MIN_PASSWORD_CHARS:
            raise UserError(f"the password must be at least {MIN_PASSWORD_CHARS} characters")
        return self._hasher.hash(password)

    def remove(self, name: str) -> None:
        with self._changing() as data:
            if name not in data["users"]:
                raise UserError(f"no user {name!r}")
            users = {k: v for k, v in data["users"].items() if k != name}
            self._save({**data, "users": users})

    def set_password(self, name: str, password: str) -> None:
        """A new password; every session of the user ends (API tokens stay)."""
        hashed = self._hash_new(password)
        self._update(name, lambda entry: {"password": hashed, **_next_generation(entry)})

    def _update(self, name: str, change: Any) -> None:
        with self._changing() as data:
            entry = data["users"].get(name)
            if entry is None:
                raise UserError(f"no user {name!r}")
            users = {**data["users"], name: {**entry, **change(entry)}}
            self._save({**data, "users": users})

    # -- sessions ---------------------------------------------------------------------
    def session_stamp(self, name: str) -> str | None:
        """What a session cookie of this account must carry to be valid; None: no user."""
        entry = self._load()["users"].get(name)
        if entry is None:
            return None
        # Files written before account ids existed: the creation time tells accounts apart.
        account = entry.get("account_id") or entry.get("created_at", "")
        return f"{account}.{int(entry.get('session_generation', 0))}"

    def end_sessions(self, name: str) -> None:
        """Ends every session of the user, in every worker that shares this file."""
        self._update(name, _next_generation)

    def get(self, name: str) -> User | None:
        entry = self._load()["users"].get(name)
        return User(name, _check_role(entry["role"])) if entry else None

    def users(self) -> list[User]:
        users = self._load()["users"]
        return [User(name, _check_role(users[name]["role"])) for name in sorted(users)]

    def verify_password(self, name: str, password: str) -> User | None:
        """The user when the password matches, else None (same work either way)."""
        entry = self._load()["users"].get(name)
        stored = entry["password"] if entry else None
        try:
            if stored is None:
                # Hash anyway so that a missing user takes as long as a wrong password.
                self._hasher.hash(password)
                return None
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return User(name, _check_role(entry["role"]))

    # -- tokens -----------------------------------------------------------------------
    def issue_token(self, name: str) -> str:
        """A new API token for the user; only its digest is kept."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        made = {"sha256": _token_digest(token), "created_at": datetime.now(UTC).isoformat()}
        self._update(name, lambda entry: {"tokens": [*entry.get("tokens", []), made]})
        return token

    def user_for_token(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = _token_digest(token)
        for name, entry in self._load()["users"].items():
            for stored in entry.get("tokens", []):
                if hmac.compare_digest(stored["sha256"], digest):
                    return User(name, _check_role(entry["role"]))
        return None
