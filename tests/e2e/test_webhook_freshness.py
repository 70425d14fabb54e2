"""A customer pays on the hosted invoice page; the sandbox sends Stripe's webhooks to a
running `python -m sync --every 1h --listen`, and the warehouse shows the invoice paid
without anyone running the sync."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from sandbox.testing import running_sandbox
from tests.conftest import ARTIFACTS, ROOT, free_port
from tests.sync.account_check import query
from tests.sync.test_command import command_env

pytestmark = pytest.mark.slow


def warehouse_value(db: Path, sql: str, *params: object) -> object:
    """The first value of a query on the published warehouse; None until there is one."""
    if not db.exists():
        return None
    try:
        rows = query(db, sql, *params)
    except duckdb.Error:  # between the sync's rename and the next read: try again
        return None
    return rows[0][0] if rows else None


def wait_for(what: str, check, process: subprocess.Popen, log: Path, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert process.poll() is None, f"the sync loop stopped (exit {process.returncode}), see {log}"
        assert time.monotonic() < deadline, f"{what} not within {timeout:.0f} s, see {log}"
        time.sleep(0.2)


def test_paying_on_the_hosted_page_reaches_the_warehouse_without_a_manual_sync(
    sandbox_account: Path, tmp_path: Path
) -> None:
    secret = "whsec_" + secrets.token_hex(24)
    port = free_port()
    db = tmp_path / "billing.duckdb"
    log = ARTIFACTS / f"sync-listen-{port}.log"
    log.parent.mkdir(exist_ok=True)
    webhook_url = f"http://127.0.0.1:{port}/stripe/webhook"
    with running_sandbox(sandbox_account, webhook_url=webhook_url, webhook_secret=secret) as sandbox:
        env = command_env(
            tmp_path,
            STRIPE_SYNC_API_KEY=sandbox.api_key,
            STRIPE_API_BASE=sandbox.base_url,
            STRIPE_WEBHOOK_SECRET=secret,
        )
        with log.open("w") as out:
            loop = subprocess.Popen(
                [sys.executable, "-m", "sync", "--db", str(db), "--every", "1h",
                 "--listen", f"127.0.0.1:{port}", "--rate", "500"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            backfilled = "SELECT count(*) FROM sync_runs WHERE status = 'succeeded'"
            wait_for("the first run", lambda: warehouse_value(db, backfilled), loop, log, timeout=180)
            invoice = warehouse_value(db, "SELECT id FROM invoices WHERE status = 'open' ORDER BY id LIMIT 1")
            assert invoice, "the generated account has invoices in dunning"

            pay = urllib.request.Request(f"{sandbox.base_url}/i/{invoice}/pay", data=b"", method="POST")
            with urllib.request.urlopen(pay, timeout=30):
                pass

            status = "SELECT status FROM invoices WHERE id = ?"
            paid = lambda: warehouse_value(db, status, invoice) == "paid"  # noqa: E731
            wait_for("the paid invoice", paid, loop, log, timeout=30)
        finally:
            loop.terminate()
            loop.wait(timeout=60)
    runs = query(db, "SELECT mode, status FROM sync_runs ORDER BY id")
    assert runs[0] == ("full", "succeeded") and ("incremental", "succeeded") in runs[1:]
    text = log.read_text()
    assert "invoice.paid: queued" in text and secret not in text
