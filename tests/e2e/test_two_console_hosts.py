"""Two console hosts behind one address, one sync host, one PostgreSQL ops store (issue #18).

Each "host" is a real console server process with its own working directory, its own
warehouse file (filled by its own `python -m sync.snapshot_pull` from the sync host's
`python -m sync.snapshot_server`) and its own copy of the users file; they share only
what a deployment shares: the ops store, the cookie key, the snapshot server's token.
The ops store's guarantees between processes are tested on PostgreSQL elsewhere
(sessions, sign-in throttle, link limits, outbox: tests/security, tests/portal); what
is new here is two whole consoles and the shipped warehouse.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import duckdb
import pytest

from sandbox.testing import running_sandbox
from tests.conftest import ARTIFACTS, ROOT, browser_sign_in, free_port, running_console, wait_until_answering
from tests.sync.test_sync_sandbox import run

pytestmark = pytest.mark.browser
WAIT_MS = 30_000
TOKEN = "the-snapshot-token-of-the-two-hosts-test"
MOVED = "moved-to-host-b@example.net"


def snapshot_id(db: Path) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT value FROM sync_state WHERE name = 'snapshot_id'").fetchone()[0]


def command(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def snapshot_server(stack: ExitStack, db: Path, env: dict[str, str]) -> str:
    """`python -m sync.snapshot_server` on the sync host; its URL once it answers."""
    port = free_port()
    log_path = ARTIFACTS / f"snapshot-server-{port}.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sync.snapshot_server", "--listen", f"127.0.0.1:{port}", "--db", str(db)],
            cwd=db.parent, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    stack.callback(process.wait, timeout=20)
    stack.callback(process.terminate)
    url = f"http://127.0.0.1:{port}/snapshot"
    probe = urllib.request.Request(url, method="HEAD", headers={"Authorization": f"Bearer {TOKEN}"})
    wait_until_answering(probe, process, log_path, timeout=60)
    return url


@pytest.mark.parametrize("ops_backend", ["postgresql"], indirect=True)
def test_two_console_hosts_serve_one_snapshot_and_share_sessions(
    ops_backend, console_env, sandbox_account: Path, tmp_path: Path, browser
) -> None:
    # The code is the same on every host (here: on the path); each host works in its own folder.
    shared = {**console_env, "SNAPSHOT_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    # The ops store's schema is made once, before the consoles start (README: Beyond one machine).
    migrated = command(["console.ops_migrate", "upgrade"], ROOT, shared)
    assert migrated.returncode == 0, migrated.stderr
    account = tmp_path / "account"
    shutil.copytree(sandbox_account, account)
    with running_sandbox(account) as stripe, ExitStack() as stack:
        sync_db = tmp_path / "sync-host" / "billing.duckdb"
        run(stripe, sync_db)
        with duckdb.connect(str(sync_db), read_only=True) as con:
            customer_id, email = con.execute(
                "SELECT id, email FROM customers WHERE NOT deleted AND email IS NOT NULL ORDER BY id LIMIT 1"
            ).fetchone()
        source = snapshot_server(stack, sync_db, shared)

        hosts = {}
        for name in ("a", "b"):
            home = tmp_path / f"host-{name}"
            (home / ".streamlit").mkdir(parents=True)
            shutil.copy(ROOT / ".streamlit" / "config.toml", home / ".streamlit")
            users = home / "users.yaml"
            shutil.copy(console_env["USERS_FILE"], users)
            env = {
                **shared,
                "BILLING_DB": str(home / "data" / "billing.duckdb"),
                "USERS_FILE": str(users),
                "OUTBOX_DIR": str(home / "outbox"),
            }
            hosts[name] = (home, env)

        def pull_everywhere() -> None:
            for home, env in hosts.values():
                pulled = command(["sync.snapshot_pull", "--from", source], home, env)
                assert pulled.returncode == 0, pulled.stderr
                assert snapshot_id(Path(env["BILLING_DB"])) == snapshot_id(sync_db)

        pull_everywhere()
        url_a, url_b = (stack.enter_context(running_console(env, home)) for home, env in hosts.values())

        # Signed in on host A; the same cookie is a session on host B (one ops store, one key).
        on_a = browser.new_context()
        page_a = on_a.new_page()
        cookie = browser_sign_in(page_a, url_a, "sam")
        on_b = browser.new_context()
        on_b.add_cookies([cookie])
        page_b = on_b.new_page()
        for page, url in ((page_a, url_a), (page_b, url_b)):
            page.goto(f"{url}/customer?id={customer_id}")
            page.get_by_text(email, exact=True).first.wait_for(timeout=WAIT_MS)

        # A change in Stripe, one sync run, one pull per host: both serve the new snapshot.
        assert stripe.change_customer(customer_id, "email", MOVED)
        run(stripe, sync_db)
        pull_everywhere()
        for page in (page_a, page_b):
            page.reload()
            page.get_by_text(MOVED, exact=True).first.wait_for(timeout=WAIT_MS)
        assert page_b.get_by_text(email, exact=True).count() == 0

        # Signed out on host A: host B refuses the session at its next click.
        page_a.get_by_role("button", name="Sign out").click()
        page_a.get_by_label("Username").first.wait_for(timeout=WAIT_MS)
        page_b.get_by_role("link", name="Customers").first.click()
        page_b.get_by_text("Your session has ended").first.wait_for(timeout=WAIT_MS)
        for context in (on_a, on_b):
            context.close()
