"""Server-side session records: lifetime from the setting, expiry, revocation (issue 9), on both
backends of the ops store; a revocation is seen by another process at its next check."""

from __future__ import annotations

import time

import pytest

from console import ops
from console.ops import sessions
from settings import load_settings
from tests.conftest import STAFF_PASSWORDS, race_processes

pytestmark = pytest.mark.usefixtures("ops_backend")


def sign_in(at, username: str):
    at.text_input[0].input(username)
    at.text_input[1].input(STAFF_PASSWORDS[username])
    at.button[0].click()
    return at.run()


@pytest.mark.parametrize("hours", [None, 3])
def test_session_lifetime_follows_cookie_expiry_hours(app_as, monkeypatch, hours):
    if hours is not None:
        monkeypatch.setenv("COOKIE_EXPIRY_HOURS", str(hours))
    expected = (hours or 10) * 3600  # default: one working day
    started = time.time()
    at = sign_in(app_as(None).run(), "sam")
    expires_at = at.session_state["staff_session_expires"]
    assert started + expected - 5 < expires_at <= time.time() + expected
    assert sessions.session_is_live(ops.store_for(load_settings().ops_db), "sam", expires_at)


def test_expired_and_revoked_sessions_are_not_live():
    store = ops.store_for(load_settings().ops_db)
    live, expired = time.time() + 600, time.time() - 1
    sessions.record_session(store, "sam", live)
    sessions.record_session(store, "sam", expired)
    assert sessions.session_is_live(store, "sam", live)
    assert not sessions.session_is_live(store, "sam", expired)
    assert not sessions.session_is_live(store, "ada", live)  # the row belongs to sam
    assert not sessions.session_is_live(store, "sam", live + 1)  # never issued
    assert sessions.revoke_sessions(store, "sam") == 2
    assert not sessions.session_is_live(store, "sam", live)


def test_open_session_ends_when_it_expires(app_as):
    at = app_as("finance").run()
    assert at.session_state["staff"].role == "finance"
    with ops.store_for(load_settings().ops_db).connect() as conn:
        conn.execute("UPDATE staff_sessions SET expires_at = '2000-01-01T00:00:00Z'")
    at.run()
    assert "staff" not in at.session_state
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert "Your session has ended" in at.warning[0].value


def test_revoking_one_user_leaves_the_others(app_as):
    support, admin = app_as("support").run(), app_as("admin").run()
    sessions.revoke_sessions(ops.store_for(load_settings().ops_db), "sam")
    support.run()
    admin.run()
    assert "staff" not in support.session_state
    assert admin.session_state["staff"].username == "ada"


def test_sign_out_revokes_the_session_everywhere(app_as):
    """Without a browser: the Sign out button ends the session server-side, so the same
    session (a copied cookie names exactly this username and expiry) is refused elsewhere."""
    mine, copy = app_as("support").run(), app_as("support").run()
    expires_at = mine.session_state["staff_session_expires"]
    copy.session_state["staff_session_expires"] = expires_at  # the same sign-in, in another tab
    assert sessions.session_is_live(ops.store_for(load_settings().ops_db), "sam", expires_at)

    next(b for b in mine.sidebar.button if b.label == "Sign out").click().run()
    assert "staff" not in mine.session_state
    assert not sessions.session_is_live(ops.store_for(load_settings().ops_db), "sam", expires_at)

    copy.run()
    assert "staff" not in copy.session_state
    assert [t.label for t in copy.text_input] == ["Username", "Password"]


CHECK_SCRIPT = """
from console import ops
from console.ops import sessions
from settings import load_settings

store = ops.store_for(load_settings().ops_db)
expires_at = float(sys.argv[3])
print(sessions.session_is_live(store, "sam", expires_at))  # a click before the revocation
wait_for_go()
print(sessions.session_is_live(store, "sam", expires_at))  # the next click
"""


def test_a_session_revoked_here_is_refused_in_another_process_at_its_next_check(tmp_path):
    """Another console process (another host, on PostgreSQL) keeps no copy of the session."""
    store = ops.store_for(load_settings().ops_db)
    expires_at = time.time() + 600
    sessions.record_session(store, "sam", expires_at)
    [printed] = race_processes(
        f"sys.argv.append({expires_at!r})\n{CHECK_SCRIPT}",
        1,
        tmp_path,
        before_go=lambda: sessions.revoke_sessions(store, "sam"),
    )
    assert printed.split() == ["True", "False"]
