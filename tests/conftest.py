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
from contextlib import contextmanager
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
    with running_console(console_env, ROOT) as url:
        yield url


@contextmanager
def running_console(env: dict[str, str], cwd: Path) -> Iterator[str]:
    """A console server process with settings `env` (over os.environ), started in `cwd`."""
    port = free_port()
    log_path = ARTIFACTS / f"console-{port}.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", str(ROOT / "console" / "server.py"),
                "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
            ],
            cwd=cwd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(urllib.request.Request(f"{url}/_stcore/health"), process, log_path, timeout=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


# --- a PostgreSQL cluster of the tests' own, for the ops store on PostgreSQL --------------

POSTGRESQL_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
POSTGRESQL_ADMIN = "ops_admin"  # the cluster's superuser (trust authentication on loopback)
PASSWORD_ROLE = "ops_password_user"  # the one role that must give a password (scram-sha-256)


class PostgresCluster:
    """A cluster in a temporary folder, on 127.0.0.1 and a socket in that folder."""

    def __init__(self, port: int, socket_dir: Path) -> None:
        self.port = port
        self.socket_dir = socket_dir
        self._databases = itertools.count()

    def url(self, database: str = "postgres", user: str = POSTGRESQL_ADMIN, password: str = "") -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def admin(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(self.url(database), autocommit=True)

    def create_database(self, owner: str = POSTGRESQL_ADMIN) -> str:
        name = f"ops_test_{os.getpid()}_{next(self._databases)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgresql_user() -> tuple[int, int] | None:
    """As root, the (uid, gid) to run the server as (PostgreSQL refuses root): the Debian
    package's `postgres`, else a `pgtest` system user made here, else `nobody`."""
    import pwd

    if os.geteuid() != 0:
        return None
    if not {"postgres", "pgtest"} & {user.pw_name for user in pwd.getpwall()}:
        subprocess.run(["useradd", "--system", "--no-create-home", "pgtest"], capture_output=True)
    for name in ("postgres", "pgtest", "nobody"):
        try:
            found = pwd.getpwnam(name)
        except KeyError:
            continue
        return found.pw_uid, found.pw_gid
    pytest.fail("running as root and no user to run PostgreSQL as (postgres, pgtest or nobody)")


def postgresql_or_skip() -> Path:
    """The folder of PostgreSQL's binaries; a skip locally, a failure in CI, when missing."""
    if POSTGRESQL_BINARIES:
        return POSTGRESQL_BINARIES[-1].parent
    message = (
        "PostgreSQL is missing: install Debian's postgresql (apt-get install postgresql) to run its tests"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgresql_cluster() -> Iterator[PostgresCluster]:
    """initdb in a temporary folder, pg_ctl start on a free loopback port, stopped at the end."""
    import tempfile

    bindir = postgresql_or_skip()
    owner = _postgresql_user()
    root = Path(tempfile.mkdtemp(prefix="ops-postgresql-"))  # outside pytest's root-only folders
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    run_as = {"user": owner[0], "group": owner[1], "extra_groups": []} if owner else {}
    if owner:
        for path in (root, sockets):
            os.chown(path, *owner)
    port = free_port()
    try:
        subprocess.run(
            [bindir / "initdb", "-D", data, "-U", POSTGRESQL_ADMIN, "--auth=trust", "-E", "UTF8",
             "--no-sync"],
            check=True, capture_output=True, cwd=root, **run_as,
        )  # fmt: skip
        # Loopback only; one role must give its password (the password tests), the rest are trusted.
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n"
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c max_connections=200"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        subprocess.run(
            [bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "60", "-o", options,
             "start"],
            check=True, capture_output=True, cwd=root, **run_as,
        )  # fmt: skip
        yield PostgresCluster(port, sockets)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                capture_output=True, cwd=root, **run_as,
            )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def ops_backend(
    request: pytest.FixtureRequest, console_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Runs a test once on each backend of the ops store: OPS_DB is the console's SQLite file,
    or a fresh database of the tests' cluster. Yields the dialect."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgresql_cluster")
    database = cluster.create_database()
    console_env["OPS_DB"] = cluster.url(database)
    monkeypatch.setenv("OPS_DB", console_env["OPS_DB"])
    try:
        yield "postgresql"
    finally:
        from console import ops
        from settings import load_settings

        ops.store_for(load_settings().ops_db).close()  # its pool, before the database goes
        ops.store_for.cache_clear()
        cluster.drop_database(database)


# --- races between processes ---------------------------------------------------------------

# Put before a race's script: `wait_for_go()` marks the process ready and blocks until every
# process is, so that the processes start their work together.
RACE_PRELUDE = """
import sys, time
from pathlib import Path

def wait_for_go():
    Path(sys.argv[2]).touch()
    deadline = time.monotonic() + 120
    while not Path(sys.argv[1]).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
"""


def race_processes(
    script: str, count: int, folder: Path, before_go: Callable[[], object] | None = None
) -> list[str]:
    """Run `count` processes of RACE_PRELUDE + `script` with the test's environment, start them
    together (after `before_go`, once all are ready), and return what each printed."""
    go = folder / "go"
    ready = [folder / f"ready-{n}" for n in range(count)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACE_PRELUDE + script, str(go), str(flag)],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    try:
        deadline = time.monotonic() + 120
        while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
            time.sleep(0.05)
        if before_go is not None:
            before_go()
        go.touch()
        outputs = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert all(process.returncode == 0 for process in processes), [err for _, err in outputs]
    return [out for out, _ in outputs]
