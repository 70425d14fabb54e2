"""`python -m console.users` round trip: add, sign in with it, change role, remove."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def users(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "console.users", *args],
        cwd=ROOT, env=os.environ.copy(), input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def sign_in(at, username: str, password: str):
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click()
    return at.run()


def test_round_trip(console_env, app_as):
    added = users(
        "add", "nora", "--role", "support", "--name", "Nora N", "--password-stdin", stdin="long-enough-pw\n"
    )
    assert added.returncode == 0, added.stderr
    listing = users("list").stdout
    assert "nora\tsupport\tNora N" in listing
    assert "long-enough-pw" not in listing and "$2b$" not in listing

    at = sign_in(app_as(None).run(), "nora", "long-enough-pw")
    assert at.session_state["staff"].role == "support"

    assert users("set-role", "nora", "finance").returncode == 0
    at.run()  # the role change ended the session: back to the sign-in form
    assert "staff" not in at.session_state
    at = sign_in(at, "nora", "long-enough-pw")
    assert at.session_state["staff"].role == "finance"

    assert users("remove", "nora").returncode == 0
    at.run()
    assert "staff" not in at.session_state
    at = sign_in(at, "nora", "long-enough-pw")
    assert "staff" not in at.session_state
    assert "nora" not in users("list").stdout


def test_bad_input_is_refused_and_changes_nothing(console_env):
    before = users("list").stdout
    short = users("add", "olga", "--role", "admin", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    bad_name = users("add", "Bad Name!", "--role", "admin", "--password-stdin", stdin="long-enough-pw\n")
    assert bad_name.returncode == 2 and "username" in bad_name.stderr
    duplicate = users("add", "sam", "--role", "admin", "--password-stdin", stdin="long-enough-pw\n")
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    assert users("set-role", "ghost", "admin").returncode == 2
    assert users("list").stdout == before
