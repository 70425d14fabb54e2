"""Revocable sessions in a real browser against a real console server (issue 9).

A signed-in cookie copied into another browser works until the user signs out,
has their password or role changed, or is removed; from then on it shows the
sign-in form, and an already open tab of that user is ended on its next action.
"""

from __future__ import annotations

import time

import jwt
import pytest

from console import ops
from console.ops import sessions
from settings import load_settings
from tests.conftest import STAFF_PASSWORDS, submit_sign_in
from tests.security.conftest import WAIT_MS, browser_sign_in, shows_sign_in_form, users_cli

pytestmark = pytest.mark.browser


def replay(browser, url: str, cookie: dict):
    """A fresh browser that has only the copied cookie."""
    context = browser.new_context()
    context.add_cookies([cookie])
    page = context.new_page()
    page.goto(url)
    return context, page


def sign_out_in_browser(page, username: str) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").first.wait_for(timeout=WAIT_MS)


REVOCATIONS = {
    "sign-out": lambda page, user: sign_out_in_browser(page, user),
    "set-password": lambda page, user: users_cli(
        "set-password", user, "--password-stdin", stdin="a-new-password-99\n"
    ),
    "set-role": lambda page, user: users_cli("set-role", user, "finance"),
    "remove": lambda page, user: users_cli("remove", user),
}


@pytest.mark.parametrize("how", list(REVOCATIONS))
def test_copied_cookie_works_until_revoked(console_server, browser, how):
    original = browser.new_context()
    page_a = original.new_page()
    cookie = browser_sign_in(page_a, console_server, "sam")

    # Before revocation the copied cookie signs in a second browser: the test can fail.
    other, page_b = replay(browser, console_server, cookie)
    page_b.get_by_text("Welcome, Sam Tester").first.wait_for(timeout=WAIT_MS)

    result = REVOCATIONS[how](page_a, "sam")
    if how != "sign-out":
        assert result.returncode == 0, result.stderr
        assert "1 session(s) ended" in result.stdout

    # The copied cookie, replayed in a fresh browser, now meets the sign-in form.
    third, page_c = replay(browser, console_server, cookie)
    assert shows_sign_in_form(page_c)

    # The tab that was already open is ended on its next action.
    page_b.get_by_role("link", name="Customers").first.click()
    page_b.get_by_text("Your session has ended").first.wait_for(timeout=WAIT_MS)
    assert shows_sign_in_form(page_b)
    for context in (original, other, third):
        context.close()


def test_sign_out_clears_the_cookie_in_the_browser(console_server, browser):
    cookie_name = load_settings().cookie_name
    context = browser.new_context()
    page = context.new_page()
    browser_sign_in(page, console_server, "sam")
    sign_out_in_browser(page, "sam")
    deadline = time.monotonic() + WAIT_MS / 1000
    while any(c["name"] == cookie_name for c in context.cookies()):
        assert time.monotonic() < deadline, "the sign-out left the cookie in the browser"
        time.sleep(0.2)
    page.reload()
    assert shows_sign_in_form(page)


def test_cookie_expiry_follows_the_setting_and_expired_tokens_are_refused(
    console_server, browser, console_env
):
    settings = load_settings()
    context = browser.new_context()
    page = context.new_page()
    cookie = browser_sign_in(page, console_server, "fiona")
    token = jwt.decode(cookie["value"], console_env["COOKIE_KEY"], algorithms=["HS256"])
    assert token["username"] == "fiona"
    lifetime = token["exp_date"] - time.time()
    assert settings.cookie_expiry_hours == 10
    assert 9.9 * 3600 < lifetime <= 10 * 3600
    assert abs(cookie["expires"] - token["exp_date"]) < 60  # the browser drops it then too

    def forged(username: str, exp_date: float, key: str = console_env["COOKIE_KEY"]) -> dict:
        value = jwt.encode({"username": username, "exp_date": exp_date}, key, algorithm="HS256")
        return {**cookie, "value": value}

    # A token that expired a minute ago, although its session row was recorded: refused.
    expired_at = time.time() - 60
    sessions.record_session(ops.store_for(settings.ops_db), "fiona", expired_at)
    _, page_expired = replay(browser, console_server, forged("fiona", expired_at))
    assert shows_sign_in_form(page_expired)
    # Validly signed and unexpired but never issued by a sign-in (no session row): refused.
    _, page_unissued = replay(browser, console_server, forged("fiona", time.time() + 3600))
    assert shows_sign_in_form(page_unissued)
    # Signed with another key, copying a live session's claims: refused.
    _, page_other_key = replay(
        browser, console_server, forged("fiona", token["exp_date"], "another-key-" + "k" * 40)
    )
    assert shows_sign_in_form(page_other_key)
    # The genuine cookie still works: the refusals above are the checks, not a broken replay.
    _, page_genuine = replay(browser, console_server, cookie)
    page_genuine.get_by_text("Welcome, Fiona Tester").first.wait_for(timeout=WAIT_MS)


def test_password_change_needs_the_new_password(console_server, browser):
    assert users_cli("set-password", "sam", "--password-stdin", stdin="a-new-password-99\n").returncode == 0
    page = browser.new_page()
    submit_sign_in(page, console_server, "sam", STAFF_PASSWORDS["sam"])
    page.get_by_text("Wrong username or password.").wait_for(timeout=WAIT_MS)
