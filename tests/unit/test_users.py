"""The users file: argon2 passwords, hashed tokens, roles, atomic private writes."""

from __future__ import annotations

import json
import stat

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from worker.cli import cli
from worker.users import User, UserError, UserStore

# Cheap hashing parameters keep the tests fast; production uses argon2's defaults.
FAST = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture
def store(tmp_path):
    return UserStore(tmp_path / "users.json", hasher=FAST)


def test_password_is_verified_and_not_stored(store):
    """The right password gives the user; the file holds only an argon2 hash."""
    store.add("sam", "officer", "correct horse battery")
    assert store.verify_password("sam", "correct horse battery") == User("sam", "officer")
    assert store.verify_password("sam", "wrong password!!") is None
    assert store.verify_password("nobody", "correct horse battery") is None
    text = store.path.read_text()
    assert "correct horse" not in text
    assert "$argon2" in text


def test_file_is_private(store):
    """The users file is readable by its owner only."""
    store.add("sam", "officer", "correct horse battery")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_token_resolves_to_user_and_is_stored_hashed(store):
    """An issued token finds its user; the file keeps only its digest."""
    store.add("kim", "manager", "correct horse battery")
    token = store.issue_token("kim")
    assert store.user_for_token(token) == User("kim", "manager")
    assert token not in store.path.read_text()
    assert store.user_for_token(token + "x") is None
    assert store.user_for_token("not-a-token") is None


def test_removed_user_loses_tokens(store):
    """Removing a user makes their tokens useless."""
    store.add("kim", "manager", "correct horse battery")
    token = store.issue_token("kim")
    store.remove("kim")
    assert store.user_for_token(token) is None
    with pytest.raises(UserError):
        store.remove("kim")


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


def test_store_sees_changes_made_by_another_process(store, tmp_path):
    """A second store on the same file (the CLI) is seen by the first (the worker)."""
    assert store.users() == []
    UserStore(store.path, hasher=FAST).add("lee", "viewer", "correct horse battery")
    assert store.get("lee") == User("lee", "viewer")


def test_cli_adds_user_and_prints_token(tmp_path, monkeypatch):
    """`triage users add` reads the password from stdin; `token` prints a working token."""
    path = tmp_path / "users.json"
    monkeypatch.setenv("TRIAGE_USERS_FILE", str(path))
    runner = CliRunner()
    added = runner.invoke(
        cli, ["users", "add", "ana", "--role", "manager"], input="a long enough password\n"
    )
    assert added.exit_code == 0, added.output
    made = runner.invoke(cli, ["users", "token", "ana"])
    assert made.exit_code == 0
    token = made.stdout.strip()
    assert UserStore(path).user_for_token(token) == User("ana", "manager")
    listed = runner.invoke(cli, ["users", "list"])
    assert "ana\tmanager" in listed.stdout
    assert json.loads(path.read_text())["users"]["ana"]["role"] == "manager"
    removed = runner.invoke(cli, ["users", "remove", "ana"])
    assert removed.exit_code == 0
    assert runner.invoke(cli, ["users", "token", "ana"]).exit_code != 0


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


def test_a_users_file_from_before_session_stamps_still_works(store):
    """Accounts written without an account id get a stamp from their creation time."""
    store.add("sam", "officer", "correct horse battery")
    data = json.loads(store.path.read_text())
    del data["users"]["sam"]["account_id"], data["users"]["sam"]["session_generation"]
    store.path.write_text(json.dumps(data))
    old = UserStore(store.path, hasher=FAST)
    stamp = old.session_stamp("sam")
    assert stamp == f"{data['users']['sam']['created_at']}.0"
    old.end_sessions("sam")
    assert old.session_stamp("sam") != stamp


def test_writes_from_two_stores_keep_both_changes(store):
    """Two stores on one file (two processes) do not lose each other's changes."""
    other = UserStore(store.path, hasher=FAST)
    store.add("sam", "officer", "correct horse battery")
    other.add("lee", "viewer", "correct horse battery")
    store.issue_token("sam")
    assert [u.name for u in other.users()] == ["lee", "sam"]
    assert [u.name for u in store.users()] == ["lee", "sam"]


def test_cli_sets_passwords_and_signs_users_out(tmp_path, monkeypatch):
    """`triage users password` and `sign-out` change the stamp; unknown users are errors."""
    path = tmp_path / "users.json"
    monkeypatch.setenv("TRIAGE_USERS_FILE", str(path))
    store = UserStore(path, hasher=FAST)
    store.add("ana", "manager", "a long enough password")
    stamp = store.session_stamp("ana")
    runner = CliRunner()
    changed = runner.invoke(cli, ["users", "password", "ana"], input="a new long password\n")
    assert changed.exit_code == 0, changed.output
    assert UserStore(path).verify_password("ana", "a new long password") is not None
    after_password = store.session_stamp("ana")
    assert after_password != stamp
    assert runner.invoke(cli, ["users", "sign-out", "ana"]).exit_code == 0
    assert store.session_stamp("ana") not in {stamp, after_password}
    assert runner.invoke(cli, ["users", "sign-out", "nobody"]).exit_code != 0
