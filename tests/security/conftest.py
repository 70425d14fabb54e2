"""Helpers of the security tests: a browser sign-in, the auth cookie, the users CLI."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT, STAFF_PASSWORDS, WAIT_MS, auth_cookie, browser_sign_in  # noqa: F401 (re-exported)
from tests.console.conftest import open_page, warehouse  # noqa: F401 (the page tests' fixtures, reused here)
from tests.portal.conftest import (  # noqa: F401 (the portal tests' sandbox and settings, reused here)
    portal_account,
    portal_sandbox,
    portal_warehouse_file,
    settings_with,
    smtp,
    stripe_settings,
)


def shows_sign_in_form(page) -> bool:
    page.get_by_label("Username").first.wait_for(timeout=WAIT_MS)
    return page.get_by_text("Welcome,").count() == 0


def users_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`python -m console.users ...` with the test's environment (console_env)."""
    return subprocess.run(
        [sys.executable, "-m", "console.users", *args],
        cwd=ROOT, env=os.environ.copy(), input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
