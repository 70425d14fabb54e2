"""A damaged users file or ops store, or an unreachable PostgreSQL, gets a clear message in the
console, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import STAFF_PASSWORDS, free_port


def test_a_damaged_users_file_is_explained(app_as, console_env) -> None:
    Path(console_env["USERS_FILE"]).write_text("credentials: [unclosed\n")
    at = app_as(None).run()
    assert not at.exception
    assert "users file is unusable" in at.error[0].value
    assert not at.text_input  # no sign-in form to try


SECRET = "pa55-never-shown"


@pytest.mark.parametrize("problem", ["a damaged SQLite file", "PostgreSQL unreachable"])
def test_a_damaged_or_unreachable_ops_store_is_explained_at_sign_in(
    app_as, console_env, monkeypatch, problem
):
    if problem == "a damaged SQLite file":
        Path(console_env["OPS_DB"]).write_bytes(b"not an ops store" * 300)
    else:
        monkeypatch.setenv("OPS_DB", f"postgresql://console:{SECRET}@127.0.0.1:{free_port()}/billing_ops")
    at = app_as(None).run()
    at.text_input[0].input("sam")
    at.text_input[1].input(STAFF_PASSWORDS["sam"])
    at.button[0].click().run()
    assert not at.exception
    assert "ops store is unavailable" in at.error[0].value
    assert SECRET not in " ".join(t.value for t in at.text)
    assert "staff" not in at.session_state
