"""Helpers of the security tests: a browser sign-in, the auth cookie, the users CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from console.settings import load_settings
from tests.conftest import ROOT, STAFF_PASSWORDS
from tests.console.conftest import open_page, warehouse  # noqa: F401 (the page tests' fixtures, reused here)
from tests.portal.conftest import (  # noqa: F401 (the portal tests' sandbox and settings, reused here)
    portal_sandbox,
    portal_warehouse_file,
    settings_with,
    smtp,
    stripe_settings,
)

WAIT_MS = 30_000


def browser_sign_in(page, url: str, username: str, password: str | None = None) -> dict:
    """Sign in through the form; returns the auth cookie once the browser holds it.

    Waiting for the cookie matters: it is set by a component after the page renders,
    so a navigation straight after the welcome text could outrun it.
    """
    page.goto(url)
    page.get_by_label("Username").first.fill(username)
    page.get_by_label("Password", exact=True).fill(password or STAFF_PASSWORDS[username])
    page.get_by_role("button", name="Sign in").click()
    return auth_cookie(page.context, load_settings().cookie_name)


def auth_cookie(context, name: str) -> dict:
    """The sign-in cookie of a browser context, once the cookie component has set it."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        found = [c for c in context.cookies() if c["name"] == name]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"the browser never received the {name} cookie")


def shows_sign_in_form(page) -> bool:
    page.get_by_label("Username").first.wait_for(timeout=WAIT_MS)
    return page.get_by_text("Welcome,").count() == 0


def users_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`python -m console.users ...` with the test's environment (console_env)."""
    return subprocess.run(
        [sys.executable, "-m", "console.users", *args],
        cwd=ROOT, env=os.environ.copy(), input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
