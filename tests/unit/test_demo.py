"""`triage demo` gives a first-time user an account to sign in with, and only then."""

from __future__ import annotations

from pathlib import Path

from worker.cli.demo import demo_officer
from worker.settings import Settings
from worker.users import open_store


def test_demo_creates_a_manager_when_nobody_can_sign_in(tmp_path: Path):
    """With no accounts, the demo makes one whose printed password signs in as a manager."""
    settings = Settings(data_dir=tmp_path)
    login = demo_officer(settings)
    assert login is not None
    name, password = login
    user = open_store(settings).verify_password(name, password)
    assert user is not None
    assert user.role == "manager"


def test_demo_leaves_existing_accounts_alone(tmp_path: Path):
    """When accounts exist the demo creates none and prints no password."""
    settings = Settings(data_dir=tmp_path)
    store = open_store(settings)
    store.add("alex", "officer", "a long enough password")
    assert demo_officer(settings) is None
    assert [u.name for u in store.users()] == ["alex"]
