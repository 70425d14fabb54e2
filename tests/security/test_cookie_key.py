"""The cookie key: the console refuses to start on a missing, default or weak key (issue 9)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from console.staff.cookie_key import check_cookie_key
from settings import SettingsError
from tests.conftest import ROOT

WEAK_KEYS = {
    "library default": "some_key",
    "too short": secrets.token_urlsafe(16),
    "long but regular": "ab" * 40,
    "long but one letter": "x" * 64,
}


@pytest.mark.parametrize("key", [None, "", *WEAK_KEYS.values()], ids=["unset", "empty", *WEAK_KEYS])
def test_weak_keys_are_refused_with_how_to_make_one(key):
    with pytest.raises(SettingsError) as refused:
        check_cookie_key(key)
    message = str(refused.value)
    assert "COOKIE_KEY" in message
    assert "secrets.token_urlsafe" in message
    if key:
        assert key not in message  # the value itself is never echoed


def test_a_generated_key_is_accepted():
    key = secrets.token_urlsafe(48)
    assert check_cookie_key(key) == key
    assert check_cookie_key(secrets.token_hex(32)) is not None


@pytest.mark.parametrize("key", [None, *WEAK_KEYS.values()], ids=["unset", *WEAK_KEYS])
def test_app_shows_the_message_and_no_form(app_as, monkeypatch, key):
    if key is None:
        monkeypatch.delenv("COOKIE_KEY")
    else:
        monkeypatch.setenv("COOKIE_KEY", key)
    at = app_as(None).run()
    assert not at.exception
    assert len(at.error) == 1
    assert "The console cannot start" in at.error[0].value
    assert "secrets.token_urlsafe" in at.error[0].value
    assert not at.text_input and not at.button  # no sign-in form


def test_signed_in_session_does_not_outlive_a_key_change_to_weak(app_as, monkeypatch):
    """The check runs on every script run, not only at the first one."""
    at = app_as("admin").run()
    assert at.session_state["staff"].role == "admin"
    monkeypatch.setenv("COOKIE_KEY", "some_key")
    at.run()
    assert "The console cannot start" in at.error[0].value
    assert not at.get("page_link")


def test_users_cli_works_without_a_cookie_key(console_env, monkeypatch):
    env = {k: v for k, v in os.environ.items() if k != "COOKIE_KEY"}
    listing = subprocess.run(
        [sys.executable, "-m", "console.users", "list"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    assert "sam\tsupport" in listing.stdout
