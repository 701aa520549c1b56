"""Accounts in the database (SQLite and PostgreSQL): argon2 passwords, hashed tokens,
roles, session stamps, several processes on one database, and the users file of earlier
versions imported once."""

from __future__ import annotations

import json
import stat

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import select

from worker.cli import cli
from worker.db import Database
from worker.db.models import Account, ApiToken
from worker.settings import Settings
from worker.users import User, UserError, UserStore, open_store

# Cheap hashing parameters keep the tests fast; production uses argon2's defaults.
FAST = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture
def store(database):
    return UserStore(database, hasher=FAST)


def second_process(store: UserStore) -> UserStore:
    """A store on its own engine and connections, as another process would have."""
    return UserStore(Database(store.database.url.render_as_string(hide_password=False)), FAST)


def test_password_is_verified_and_not_stored(store):
    """The right password gives the user; the database holds only an argon2 hash."""
    store.add("sam", "officer", "correct horse battery")
    assert store.verify_password("sam", "correct horse battery") == User("sam", "officer")
    assert store.verify_password("sam", "wrong password!!") is None
    assert store.verify_password("nobody", "correct horse battery") is None
    with store.database.read() as session:
        stored = session.scalar(select(Account.password_hash))
    assert stored is not None
    assert stored.startswith("$argon2")
    assert "correct horse" not in stored


def test_the_sqlite_file_is_private_and_holds_no_password(tmp_path):
    """The default SQLite file is readable by its owner only and has no plain password."""
    store = open_store(Settings(data_dir=tmp_path), hasher=FAST)
    store.add("sam", "officer", "correct horse battery")
    store.database.close()
    path = tmp_path / "triage.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"correct horse" not in path.read_bytes()


def test_token_resolves_to_user_and_is_stored_hashed(store):
    """An issued token finds its user; the database keeps only its digest."""
    store.add("kim", "manager", "correct horse battery")
    token = store.issue_token("kim")
    assert store.user_for_token(token) == User("kim", "manager")
    with store.database.read() as session:
        digests = list(session.scalars(select(ApiToken.sha256)))
    assert len(digests) == 1
    assert token not in digests[0]
    assert store.user_for_token(token + "x") is None
    assert store.user_for_token("not-a-token") is None


def test_removed_user_loses_tokens(store):
    """Removing a user makes their tokens useless and deletes them."""
    store.add("kim", "manager", "correct horse battery")
    token = store.issue_token("kim")
    store.remove("kim")
    assert store.user_for_token(token) is None
    with store.database.read() as session:
        assert list(session.scalars(select(ApiToken))) == []
    with pytest.raises(UserError):
        store.remove("kim")
    with pytest.raises(UserError, match="no user"):
        store.issue_token("kim")


def test_bad_input_is_refused(store):
    """Unknown roles, short passwords, odd names and duplicates are refused."""
    with pytest.raises(UserError, match="role"):
        store.add("sam", "boss", "correct horse battery")
    with pytest.raises(UserError, match="password"):
        store.add("sam", "officer", "short")
    with pytest.raises(UserError, match="name"):
        store.add("sam smith", "officer", "correct horse battery")
    store.add("sam", "officer", "correct horse battery")
    with pytest.raises(UserError, match="exists"):
        store.add("sam", "viewer", "correct horse battery")


def test_roles_are_ordered():
    """viewer < officer < manager < admin."""
    assert User("a", "admin").at_least("manager")
    assert not User("o", "officer").at_least("manager")


def test_store_sees_changes_made_by_another_process(store):
    """A second store on the same database (the CLI) is seen by the first (the worker)."""
    assert store.users() == []
    other = second_process(store)
    other.add("lee", "viewer", "correct horse battery")
    assert store.get("lee") == User("lee", "viewer")
    token = other.issue_token("lee")
    assert store.user_for_token(token) == User("lee", "viewer")
    other.end_sessions("lee")
    assert store.session_stamp("lee") == other.session_stamp("lee")
    other.database.close()


def test_cli_adds_user_and_prints_token(database_url, monkeypatch):
    """`triage users add` reads the password from stdin; `token` prints a working token."""
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    runner = CliRunner()
    added = runner.invoke(
        cli, ["users", "add", "ana", "--role", "manager"], input="a long enough password\n"
    )
    assert added.exit_code == 0, added.output
    made = runner.invoke(cli, ["users", "token", "ana"])
    assert made.exit_code == 0
    token = made.stdout.strip()
    store = UserStore(Database(database_url))
    assert store.user_for_token(token) == User("ana", "manager")
    listed = runner.invoke(cli, ["users", "list"])
    assert "ana\tmanager" in listed.stdout
    removed = runner.invoke(cli, ["users", "remove", "ana"])
    assert removed.exit_code == 0
    assert store.get("ana") is None
    assert runner.invoke(cli, ["users", "token", "ana"]).exit_code != 0
    store.database.close()


def test_session_stamp_changes_with_sign_out_password_and_new_account(store):
    """The stamp sessions carry changes on sign-out, a new password, and a re-added name."""
    store.add("sam", "officer", "correct horse battery")
    first = store.session_stamp("sam")
    assert first is not None
    assert store.session_stamp("sam") == first
    store.end_sessions("sam")
    second = store.session_stamp("sam")
    store.set_password("sam", "another long password")
    third = store.session_stamp("sam")
    assert len({first, second, third}) == 3
    assert store.verify_password("sam", "another long password") == User("sam", "officer")
    store.remove("sam")
    assert store.session_stamp("sam") is None
    store.add("sam", "officer", "correct horse battery")
    assert store.session_stamp("sam") not in {first, second, third}
    with pytest.raises(UserError, match="password"):
        store.set_password("sam", "short")
    with pytest.raises(UserError, match="no user"):
        store.end_sessions("nobody")


def test_writes_from_two_stores_keep_both_changes(store):
    """Two stores on one database (two processes) do not lose each other's changes."""
    other = second_process(store)
    store.add("sam", "officer", "correct horse battery")
    other.add("lee", "viewer", "correct horse battery")
    store.issue_token("sam")
    other.end_sessions("sam")
    store.end_sessions("sam")
    assert [u.name for u in other.users()] == ["lee", "sam"]
    assert [u.name for u in store.users()] == ["lee", "sam"]
    assert store.session_stamp("sam").endswith(".2")
    other.database.close()


def test_cli_sets_passwords_and_signs_users_out(database_url, monkeypatch):
    """`triage users password` and `sign-out` change the stamp; unknown users are errors."""
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    store = open_store(Settings(database_url=database_url), hasher=FAST)
    store.add("ana", "manager", "a long enough password")
    stamp = store.session_stamp("ana")
    runner = CliRunner()
    changed = runner.invoke(cli, ["users", "password", "ana"], input="a new long password\n")
    assert changed.exit_code == 0, changed.output
    assert store.verify_password("ana", "a new long password") is not None
    after_password = store.session_stamp("ana")
    assert after_password != stamp
    assert runner.invoke(cli, ["users", "sign-out", "ana"]).exit_code == 0
    assert store.session_stamp("ana") not in {stamp, after_password}
    assert runner.invoke(cli, ["users", "sign-out", "nobody"]).exit_code != 0
    store.database.close()


def test_cli_says_when_the_database_cannot_be_used(postgres, monkeypatch):
    """`triage users list` against a missing database fails with a message, not a trace."""
    url = f"postgresql+psycopg://triage:pw-not-shown@127.0.0.1:{postgres.port}/no_such_db"
    monkeypatch.setenv("TRIAGE_DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["users", "list"])
    assert result.exit_code == 1
    assert "no_such_db" in result.output
    assert "pw-not-shown" not in result.output
    assert "Traceback" not in result.output


# -- the users file of earlier versions -------------------------------------------------


def old_users_file(path, *, with_stamps: bool = True) -> dict:
    """A users file as earlier versions wrote it: one manager with a token."""
    digest = "ab" * 32
    entry = {
        "role": "manager",
        "password": FAST.hash("an old long password"),
        "tokens": [{"sha256": digest, "created_at": "2026-01-05T09:00:00+00:00"}],
        "created_at": "2026-01-05T08:00:00+00:00",
    }
    if with_stamps:
        entry |= {"account_id": "old-account-id", "session_generation": 3}
    data = {"users": {"ana": entry}}
    path.write_text(json.dumps(data))
    return data


def test_an_old_users_file_is_imported_once_keeping_passwords_tokens_and_stamps(
    database_url, tmp_path
):
    """The first start imports the file: same password, tokens, and session stamp; later
    starts do not bring back an account removed since."""
    old_users_file(tmp_path / "users.json")
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    store = open_store(settings, hasher=FAST)
    assert store.verify_password("ana", "an old long password") == User("ana", "manager")
    assert store.session_stamp("ana") == "old-account-id.3"
    with store.database.read() as session:
        assert list(session.scalars(select(ApiToken.sha256))) == ["ab" * 32]
    store.remove("ana")
    again = open_store(settings, hasher=FAST)
    assert again.get("ana") is None
    assert store.import_file(tmp_path / "users.json") is None
    store.database.close()
    again.database.close()


def test_an_old_file_without_stamps_keeps_its_sessions_by_creation_time(store, tmp_path):
    """Accounts written without an account id get their stamp from their creation time."""
    data = old_users_file(tmp_path / "users.json", with_stamps=False)
    assert store.import_file(tmp_path / "users.json") == 1
    assert store.session_stamp("ana") == f"{data['users']['ana']['created_at']}.0"


def test_importing_keeps_accounts_already_in_the_database(store, tmp_path):
    """A name already in the database is not overwritten by the file's."""
    store.add("ana", "viewer", "the newer long password")
    old_users_file(tmp_path / "users.json")
    assert store.import_file(tmp_path / "users.json") == 0
    assert store.get("ana") == User("ana", "viewer")


def test_a_broken_users_file_is_a_clear_error(store, tmp_path):
    """A users file that is not JSON, or not a users file, is refused with its name."""
    path = tmp_path / "users.json"
    path.write_text("{not json")
    with pytest.raises(UserError, match=r"users\.json"):
        store.import_file(path)
    path.write_text(json.dumps({"people": []}))
    with pytest.raises(UserError, match=r"users\.json"):
        store.import_file(path)
    path.write_text(json.dumps({"users": {"ok": {"role": "viewer"}, "bad": {"password": "x"}}}))
    with pytest.raises(UserError, match="'bad'"):
        store.import_file(path)
    # Nothing half-imported, and the import can be tried again once the file is mended.
    assert store.users() == []
    old_users_file(path)
    assert store.import_file(path) == 1
