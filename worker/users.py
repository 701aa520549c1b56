"""Officers' accounts: names, roles, argon2 password hashes and hashed API tokens.

They live in the database (worker/db/, ``TRIAGE_DATABASE_URL``), the one state there that
is primary rather than rebuilt from a topic, so that every worker and web process sees
the same accounts and ``triage users`` works on running ones. Tokens are shown once when
made and stored only as a SHA-256 digest: they are long random strings, so a fast hash is
enough, and it lets a request's token be found by an index. Passwords use argon2id.

Each account has a random key and a session generation; together they are the account's
session stamp, which the officers' app writes into every session cookie. Signing out,
changing the password or removing the account changes the stamp, which ends every session
of that account in every process, before or after a restart (worker/web/session.py).

A users file of earlier versions (``TRIAGE_USERS_FILE``, default ``<data_dir>/users.json``)
is imported once, keeping each account's stamp so that its sessions carry on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from records.moderation import ROLES, Role, role_at_least
from worker.db import Database, database_url, upgrade
from worker.db.models import Account, ApiToken, LegacyImport
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
USERS_FILE_IMPORT = "users-file"


class UserError(ValueError):
    """A user cannot be added, found or changed; the message says why."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role

    def at_least(self, role: Role) -> bool:
        return role_at_least(self.role, role)


def users_path(settings: Settings) -> Path:
    """Where a users file of an earlier version would be."""
    return settings.users_file or settings.data_dir / "users.json"


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise UserError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")


def _now() -> datetime:
    return datetime.now(UTC)


class UserStore:
    def __init__(self, database: Database, hasher: PasswordHasher | None = None) -> None:
        self.database = database
        self._hasher = hasher or PasswordHasher()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._errors(), self.database.read() as session:
            yield session

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._errors(), self.database.write() as session:
            yield session

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except IntegrityError:
            raise  # a unique key taken at the same moment: the caller says which
        except SQLAlchemyError as exc:
            # Not str(exc): it carries the statement's parameters (hashes, digests).
            raise UserError(
                f"the accounts database cannot be used ({type(exc).__name__})"
            ) from None

    def _account(self, session: Session, name: str) -> Account:
        account = session.scalar(select(Account).where(Account.name == name))
        if account is None:
            raise UserError(f"no user {name!r}")
        return account

    # -- users ------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str) -> User:
        if not NAME_PATTERN.match(name):
            raise UserError("a user name is 1-64 letters, digits or . _ @ - (no spaces)")
        checked = _check_role(role)
        hashed = self._hash_new(password)
        try:
            with self._writing() as session:
                if session.scalar(select(Account.id).where(Account.name == name)) is not None:
                    raise UserError(f"user {name!r} already exists")
                session.add(
                    Account(
                        name=name,
                        role=checked,
                        password_hash=hashed,
                        # A new account, even under an old name, never accepts old cookies.
                        account_key=secrets.token_urlsafe(12),
                        session_generation=0,
                        created_at=_now(),
                    )
                )
        except IntegrityError:  # added at the same moment by another process
            raise UserError(f"user {name!r} already exists") from None
        return User(name, checked)

    def _hash_new(self, password: str) -> str:
        if len(password) < MIN_PASSWORD_CHARS:
            raise UserError(f"the password must be at least {MIN_PASSWORD_CHARS} characters")
        return self._hasher.hash(password)

    def remove(self, name: str) -> None:
        """Removes the account; its tokens go with it."""
        with self._writing() as session:
            session.delete(self._account(session, name))

    def set_password(self, name: str, password: str) -> None:
        """A new password; every session of the user ends (API tokens stay)."""
        hashed = self._hash_new(password)
        self._bump(name, password_hash=hashed)

    def _bump(self, name: str, **values: Any) -> None:
        with self._writing() as session:
            changed = session.execute(
                update(Account)
                .where(Account.name == name)
                .values(session_generation=Account.session_generation + 1, **values)
            )
            if getattr(changed, "rowcount", 0) == 0:
                raise UserError(f"no user {name!r}")

    # -- sessions ---------------------------------------------------------------------
    def session_stamp(self, name: str) -> str | None:
        """What a session cookie of this account must carry to be valid; None: no user."""
        with self._reading() as session:
            row = session.execute(
                select(Account.account_key, Account.session_generation).where(Account.name == name)
            ).first()
        return None if row is None else f"{row[0]}.{row[1]}"

    def end_sessions(self, name: str) -> None:
        """Ends every session of the user, in every process that shares this database."""
        self._bump(name)

    def get(self, name: str) -> User | None:
        with self._reading() as session:
            role = session.scalar(select(Account.role).where(Account.name == name))
        return None if role is None else User(name, _check_role(role))

    def users(self) -> list[User]:
        with self._reading() as session:
            rows = session.execute(select(Account.name, Account.role).order_by(Account.name))
            return [User(name, _check_role(role)) for name, role in rows]

    def verify_password(self, name: str, password: str) -> User | None:
        """The user when the password matches, else None (same work either way)."""
        with self._reading() as session:
            row = session.execute(
                select(Account.password_hash, Account.role).where(Account.name == name)
            ).first()
        try:
            if row is None:
                # Hash anyway so that a missing user takes as long as a wrong password.
                self._hasher.hash(password)
                return None
            self._hasher.verify(row[0], password)
        except (VerificationError, InvalidHashError):
            return None
        return User(name, _check_role(row[1]))

    # -- tokens -----------------------------------------------------------------------
    def issue_token(self, name: str) -> str:
        """A new API token for the user; only its digest is kept."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._writing() as session:
            account = self._account(session, name)
            session.add(
                ApiToken(account_id=account.id, sha256=_token_digest(token), created_at=_now())
            )
        return token

    def user_for_token(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self._reading() as session:
            row = session.execute(
                select(Account.name, Account.role)
                .join(ApiToken, ApiToken.account_id == Account.id)
                .where(ApiToken.sha256 == _token_digest(token))
            ).first()
        return None if row is None else User(row[0], _check_role(row[1]))

    # -- the users file of earlier versions -------------------------------------------
    def import_file(self, path: Path) -> int | None:
        """Imports a users file once; the accounts imported, or None when there is none to
        import (no file, or imported before). Names already in the database are kept."""
        if not path.is_file():
            return None
        with self._reading() as session:
            if session.get(LegacyImport, USERS_FILE_IMPORT) is not None:
                return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = data["users"]
            if not isinstance(entries, dict):
                raise TypeError("users is not a mapping")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"cannot import the users file {path.name}: {exc}") from None
        try:
            with self._writing() as session:
                session.add(LegacyImport(source=USERS_FILE_IMPORT, imported_at=_now(), rows=0))
                session.flush()  # a second process importing at once stops here
                taken = set(session.scalars(select(Account.name)))
                imported = 0
                for name, entry in sorted(entries.items()):
                    if name in taken:
                        continue
                    try:
                        session.add(_imported_account(name, entry))
                    except (KeyError, ValueError, TypeError, AttributeError) as exc:
                        raise UserError(
                            f"cannot import the users file {path.name}: account {name!r}: {exc}"
                        ) from None
                    imported += 1
                session.execute(
                    update(LegacyImport)
                    .where(LegacyImport.source == USERS_FILE_IMPORT)
                    .values(rows=imported)
                )
        except IntegrityError:  # imported at the same moment by another process
            return None
        return imported


def _imported_account(name: str, entry: dict[str, Any]) -> Account:
    created = entry.get("created_at") or ""
    try:
        created_at = datetime.fromisoformat(created)
    except ValueError:
        created_at = _now()
    account = Account(
        name=name,
        role=_check_role(str(entry["role"])),
        password_hash=str(entry["password"]),
        # Files written before account ids existed used the creation time instead.
        account_key=str(entry.get("account_id") or created),
        session_generation=int(entry.get("session_generation", 0)),
        created_at=created_at,
    )
    account.tokens = [
        ApiToken(
            sha256=str(token["sha256"]),
            created_at=datetime.fromisoformat(token["created_at"])
            if token.get("created_at")
            else _now(),
        )
        for token in entry.get("tokens", [])
    ]
    return account


def open_store(settings: Settings, hasher: PasswordHasher | None = None) -> UserStore:
    """The accounts in the settings' database, migrated to this version's schema, with a
    users file of an earlier version imported once. Raises DatabaseError or UserError."""
    database = Database(database_url(settings))
    upgrade(database)
    store = UserStore(database, hasher)
    store.import_file(users_path(settings))
    return store


__all__ = [
    "MIN_PASSWORD_CHARS",
    "User",
    "UserError",
    "UserStore",
    "open_store",
    "users_path",
]
