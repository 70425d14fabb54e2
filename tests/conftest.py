"""Shared fixtures: isolated settings, staff accounts, the sandbox, a running console, a browser.

Every test runs with its own data folder: settings come from environment
variables only (CONSOLE_SECRETS_FILE points at nothing), so a developer's
.streamlit/secrets.toml never leaks in.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-output"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STAFF_PASSWORDS = {"sam": "support-pass-123", "fiona": "finance-pass-123", "ada": "admin-pass-1234"}
STAFF_ROLES = {"sam": "support", "fiona": "finance", "ada": "admin"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def staff_users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A users file with one account per role (bcrypt is slow: made once)."""
    from console.staff import accounts

    path = tmp_path_factory.mktemp("staff") / "users.yaml"
    for username, role in STAFF_ROLES.items():
        accounts.add_account(
            path,
            username,
            f"{username.title()} Tester",
            f"{username}@example.com",
            role,
            STAFF_PASSWORDS[username],
        )
    return path


@pytest.fixture
def console_env(tmp_path: Path, staff_users_file: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment of an isolated console: own data folder, users, cookie key; no SMTP, no Stripe."""
    users = tmp_path / "users.yaml"
    shutil.copy(staff_users_file, users)
    env = {
        "CONSOLE_SECRETS_FILE": str(tmp_path / "no-secrets.toml"),
        "BILLING_DB": str(tmp_path / "billing.duckdb"),
        "OPS_DB": str(tmp_path / "ops.sqlite3"),
        "USERS_FILE": str(users),
        "COOKIE_KEY": secrets.token_urlsafe(48),
        "OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    for name in list(os.environ):
        if name.startswith(("STRIPE_", "SMTP_", "PORTAL_", "MAIL_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def app_as(console_env: dict[str, str]) -> Callable[..., object]:
    """An AppTest of the console (or of one page file) with `role` already signed in.

    The sign-in is real on the server side: a session row is recorded in the ops
    store, exactly as the sign-in form does, and the app checks it on every run.
    """
    from streamlit.testing.v1 import AppTest

    from console import ops
    from console.ops import sessions
    from console.staff.roles import StaffUser
    from settings import load_settings

    def make(role: str | None, script: str = "console/app.py", timeout: float = 30) -> AppTest:
        at = AppTest.from_file(str(ROOT / script), default_timeout=timeout)
        if role is not None:
            username = next(name for name, r in STAFF_ROLES.items() if r == role)
            expires_at = time.time() + 3600
            sessions.record_session(ops.store_for(load_settings().ops_db), username, expires_at)
            at.session_state["staff"] = StaffUser(username, f"{username.title()} Tester", role)
            at.session_state["staff_session_expires"] = expires_at
        return at

    return make


def notices(at, kind: str) -> list[str]:
    """Texts of the `console.ui.widgets.notice`s of `kind` ("error", "success", ...) an AppTest shows.

    A notice is a coloured badge (Markdown) followed by its message as plain text.
    """
    from console.ui.widgets import _NOTICES

    badge = f":{_NOTICES[kind][2]}-badge["
    found: list[str] = []

    def walk(node) -> None:
        children = list(getattr(node, "children", {}).values())
        for first, then in itertools.pairwise(children):
            if first.type == "markdown" and first.value.startswith(badge) and then.type == "text":
                found.append(then.value)
        for child in children:
            walk(child)

    walk(at.main)
    return found


def wait_until_answering(
    request: urllib.request.Request, process: subprocess.Popen, log_path: Path, timeout: float
) -> None:
    """Block until a server we started answers `request`; fail with its log's path if it died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{request.full_url} did not answer, see {log_path}") from None
            time.sleep(0.2)


# --- the sandbox: a local Stripe-compatible API over a generated account -------------


@pytest.fixture(scope="session")
def sandbox_account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sandbox.generate import generate_account

    out = tmp_path_factory.mktemp("sandbox-account")
    generate_account(out, customers=60, months=24, seed=7)
    return out


@pytest.fixture(scope="session")
def sandbox(sandbox_account: Path) -> Iterator[object]:
    from sandbox.testing import running_sandbox

    with running_sandbox(sandbox_account) as handle:
        yield handle


# --- a real console server and a real browser -----------------------------------------

WAIT_MS = 30_000


def submit_sign_in(page, url: str, username: str, password: str) -> None:
    """Open the console and submit the sign-in form until the server has read what was typed.

    The cookie component's first rerun can redraw the form right after the page shows it,
    dropping the typing ("Enter your username and password."): then type again.
    """
    page.goto(url)
    emptied = page.get_by_text("Enter your username and password.")
    answered = page.get_by_role("button", name="Sign out").or_(page.get_by_role("alert"))
    for _ in range(3):
        page.get_by_label("Username").first.fill(username)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        answered.first.wait_for(timeout=WAIT_MS)
        if not emptied.is_visible():
            return


def browser_sign_in(page, url: str, username: str, password: str | None = None) -> dict:
    """Sign in through the form; returns the auth cookie once the browser holds it.

    Waiting for the cookie matters: it is set by a component after the page renders,
    so a navigation straight after the welcome text could outrun it.
    """
    signed_in = page.get_by_role("button", name="Sign out")
    try:
        submit_sign_in(page, url, username, password or STAFF_PASSWORDS[username])
        signed_in.wait_for(timeout=WAIT_MS)
        return auth_cookie(page.context, _cookie_name())
    except Exception:
        # Leave a picture of what the browser showed: sign-in failures are otherwise opaque.
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"sign-in-failed-{username}-{time.time_ns()}.png"))
        raise


def auth_cookie(context, name: str) -> dict:
    """The sign-in cookie of a browser context, once the cookie component has set it."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        found = [c for c in context.cookies() if c["name"] == name]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"the browser never received the {name} cookie")


def _cookie_name() -> str:
    from settings import load_settings

    return load_settings().cookie_name


def browser_or_skip() -> Path:
    """Chromium's path; a skip with a message locally, a failure in CI, when it is missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = (
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run browser tests"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def browser() -> Iterator[object]:
    executable = browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def console_server(console_env: dict[str, str]) -> Iterator[str]:
    """`streamlit run console/server.py` on a free loopback port, with the test's settings."""
    port = free_port()
    log_path = ARTIFACTS / f"console-{port}.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", str(ROOT / "console" / "server.py"),
                "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
            ],
            cwd=ROOT, env={**os.environ, **console_env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(urllib.request.Request(f"{url}/_stcore/health"), process, log_path, timeout=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
