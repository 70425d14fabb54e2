"""Login throttling per username and per client address, in the ops store (issue 9).

"Then allowed again" is tested by moving the stored failure times back, not by sleeping.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from console import ops, throttle
from settings import load_settings
from tests.conftest import ROOT, STAFF_PASSWORDS
from tests.security.conftest import users_cli

LIMITS = throttle.LoginLimits(max_failures=3, window=timedelta(minutes=15), lockout=timedelta(minutes=10))


@pytest.fixture
def ops_db(console_env):
    return load_settings().ops_db


def age_failures(ops_db, minutes: int) -> None:
    """Pretend every recorded failure happened `minutes` earlier."""
    with ops.connect(ops_db) as conn:
        rows = conn.execute("SELECT id, at FROM login_failures").fetchall()
        for row in rows:
            conn.execute(
                "UPDATE login_failures SET at = strftime('%Y-%m-%dT%H:%M:%SZ', ?, ?) WHERE id = ?",
                (row["at"], f"-{minutes} minutes", row["id"]),
            )


def failures(ops_db) -> list[tuple[str, str]]:
    with ops.connect(ops_db) as conn:
        return [
            (r["username"], r["client"]) for r in conn.execute("SELECT * FROM login_failures ORDER BY id")
        ]


def test_username_is_locked_after_n_failures_from_any_address(ops_db):
    for n, client in enumerate(["10.0.0.1", "10.0.0.2", "10.0.0.3"], start=1):
        assert throttle.locked_until(ops_db, "sam", "10.0.0.9", LIMITS) is None, f"locked after {n - 1}"
        throttle.record_failure(ops_db, "sam", client)
    until = throttle.locked_until(ops_db, "sam", "10.0.0.9", LIMITS)
    assert until is not None
    assert throttle.locked_until(ops_db, "ada", "10.0.0.9", LIMITS) is None  # others unaffected


def test_address_is_locked_after_n_failures_on_any_username(ops_db):
    for username in ["sam", "ada", "nobody"]:
        throttle.record_failure(ops_db, username, "10.0.0.7")
    assert throttle.locked_until(ops_db, "fiona", "10.0.0.7", LIMITS) is not None
    assert throttle.locked_until(ops_db, "fiona", "10.0.0.8", LIMITS) is None


def test_lock_lifts_after_the_cooling_off_period(ops_db):
    for _ in range(3):
        throttle.record_failure(ops_db, "sam", "10.0.0.1")
    age_failures(ops_db, 9)
    assert throttle.locked_until(ops_db, "sam", "10.0.0.1", LIMITS) is not None
    age_failures(ops_db, 2)
    assert throttle.locked_until(ops_db, "sam", "10.0.0.1", LIMITS) is None


def test_failures_spread_beyond_the_window_do_not_add_up(ops_db):
    throttle.record_failure(ops_db, "sam", "10.0.0.1")
    throttle.record_failure(ops_db, "sam", "10.0.0.1")
    age_failures(ops_db, 20)
    throttle.record_failure(ops_db, "sam", "10.0.0.1")
    assert throttle.locked_until(ops_db, "sam", "10.0.0.1", LIMITS) is None


def test_failures_recorded_by_another_process_count(ops_db):
    script = (
        "import sys; from pathlib import Path; from console import throttle\n"
        "for _ in range(3): throttle.record_failure(Path(sys.argv[1]), 'sam', '10.0.0.1')\n"
    )
    subprocess.run([sys.executable, "-c", script, str(ops_db)], cwd=ROOT, check=True, timeout=60)
    assert throttle.locked_until(ops_db, "sam", "10.0.0.2", LIMITS) is not None


def test_admin_unlocks_a_username_or_an_address(ops_db):
    for _ in range(3):
        throttle.record_failure(ops_db, "sam", "10.0.0.1")
        throttle.record_failure(ops_db, "ada", "10.0.0.5")
    cleared = users_cli("unlock", "sam")
    assert cleared.returncode == 0 and "cleared 3" in cleared.stdout
    assert throttle.locked_until(ops_db, "sam", "10.0.0.9", LIMITS) is None
    assert throttle.locked_until(ops_db, "ada", "10.0.0.9", LIMITS) is not None
    assert users_cli("unlock", "--client", "10.0.0.5").returncode == 0
    assert throttle.locked_until(ops_db, "ada", "10.0.0.5", LIMITS) is None
    assert len(failures(ops_db)) == 6  # cleared, not deleted: the record stays
    refused = users_cli("unlock")
    assert refused.returncode == 2 and "username or --client" in refused.stderr


def sign_in(at, username: str, password: str):
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click()
    return at.run()


def test_sign_in_form_refuses_after_n_failures_then_allows_again(app_as, monkeypatch, ops_db):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("LOGIN_LOCKOUT_MINUTES", "10")
    at = app_as(None).run()
    for _ in range(3):
        at = sign_in(at, "sam", "wrong-password")
        assert [e.value for e in at.error] == ["Wrong username or password."]
    assert failures(ops_db) == [("sam", "unknown")] * 3  # every failure recorded

    at = sign_in(at, "sam", STAFF_PASSWORDS["sam"])  # the right password, but locked
    assert "Too many failed sign-ins" in at.error[0].value
    assert "10 minute(s)" in at.error[0].value
    assert "staff" not in at.session_state
    assert len(failures(ops_db)) == 3  # refused before any password check

    age_failures(ops_db, 11)
    at = sign_in(at, "sam", STAFF_PASSWORDS["sam"])
    assert not at.error
    assert at.session_state["staff"].username == "sam"


def test_unknown_usernames_count_too(app_as, monkeypatch, ops_db):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "2")
    at = app_as(None).run()
    for name in ("mallory", "eve"):
        at = sign_in(at, name, "guess-guess-guess")
    # Same client bucket: even a real user cannot be tried from here now.
    at = sign_in(at, "ada", STAFF_PASSWORDS["ada"])
    assert "Too many failed sign-ins" in at.error[0].value
    assert users_cli("unlock", "--client", "unknown").returncode == 0
    at = sign_in(at, "ada", STAFF_PASSWORDS["ada"])
    assert at.session_state["staff"].username == "ada"
