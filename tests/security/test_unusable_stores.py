"""A damaged users file or ops store gets a clear message in the console, not a traceback."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import STAFF_PASSWORDS


def test_a_damaged_users_file_is_explained(app_as, console_env) -> None:
    Path(console_env["USERS_FILE"]).write_text("credentials: [unclosed\n")
    at = app_as(None).run()
    assert not at.exception
    assert "users file is unusable" in at.error[0].value
    assert not at.text_input  # no sign-in form to try


def test_a_damaged_ops_store_is_explained_at_sign_in(app_as, console_env) -> None:
    Path(console_env["OPS_DB"]).write_bytes(b"not an ops store" * 300)
    at = app_as(None).run()
    at.text_input[0].input("sam")
    at.text_input[1].input(STAFF_PASSWORDS["sam"])
    at.button[0].click().run()
    assert not at.exception
    assert "ops store is unavailable" in at.error[0].value
    assert "staff" not in at.session_state
