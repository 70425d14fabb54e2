"""Freshness: a customer pays on the hosted invoice page, the sandbox sends the payment's
webhooks to the sync loop (`python -m sync --every 1h --listen`), and the clock stops when
the published warehouse shows the invoice paid. No manual run: the hour-long schedule
never fires, so every figure is the webhook path."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from bench.account import ServedAccount, account_customers, free_port, serve
from bench.backfill import run_sync, sync_env
from bench.measure import percentile
from bench.results import Result
from bench.synthetic_warehouse import ROOT
from sync.webhooks import DEBOUNCE_SECONDS, WEBHOOK_PATH

VISIBLE_WITHIN_SECONDS = 300  # a payment not visible by then fails the benchmark
STATUS = "SELECT status FROM invoices WHERE id = ?"


def _published(db: Path, sql: str, *params: Any) -> list[tuple]:
    """Rows of the published warehouse; none while the file is being swapped in."""
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()
    except duckdb.Error:
        return []


def _wait_until(what: str, check: Any, loop: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + VISIBLE_WITHIN_SECONDS
    while not check():
        if loop.poll() is not None:
            raise RuntimeError(f"the sync loop stopped (exit {loop.returncode}), see {log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not within {VISIBLE_WITHIN_SECONDS} s, see {log}")
        time.sleep(0.05)


@contextmanager
def _sync_loop(
    served: ServedAccount, db: Path, port: int, secret: str, log: Path, *, workers: int, rate: float
) -> Iterator[tuple[subprocess.Popen, str]]:
    args = ["-m", "sync", "--db", str(db), "--every", "1h", "--listen", f"127.0.0.1:{port}",
            "--workers", str(workers), "--rate", f"{rate:g}"]  # fmt: skip
    env = {**sync_env(served), "STRIPE_WEBHOOK_SECRET": secret}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process, "python " + " ".join(args).replace(str(ROOT) + "/", "")
    finally:
        process.terminate()
        process.wait(timeout=60)


def run(
    account: Path, work: Path, *, payments: int, latency_ms: float, rate_limit: float, workers: int
) -> Result:
    """Pay `payments` open invoices one after another; time each until the warehouse shows it."""
    secret = "whsec_" + secrets.token_hex(24)
    port = free_port()
    db = work / "freshness.duckdb"
    for leftover in work.glob("freshness.duckdb*"):
        leftover.unlink()
    webhooks = (f"http://127.0.0.1:{port}{WEBHOOK_PATH}", secret)
    with serve(account, work / "sandbox-freshness.log", latency_ms, rate_limit, webhooks) as served:
        print("freshness: backfilling the warehouse", flush=True)
        backfill = run_sync(
            served, db, work / "sync-freshness-backfill.log", full=True, workers=workers, rate=rate_limit
        )
        if backfill.error is not None:
            raise RuntimeError(f"the backfill failed: {backfill.error}")
        log = work / "sync-freshness-loop.log"
        with _sync_loop(served, db, port, secret, log, workers=workers, rate=rate_limit) as (loop, command):
            runs = "SELECT count(*) FROM sync_runs WHERE status = 'succeeded'"
            _wait_until(
                "the loop's first run", lambda: (_published(db, runs) or [(0,)])[0][0] >= 2, loop, log
            )
            invoices = _published(
                db,
                "SELECT id, hosted_invoice_url FROM invoices WHERE status = 'open' ORDER BY id LIMIT ?",
                payments,
            )
            if len(invoices) < payments:
                raise RuntimeError(f"only {len(invoices)} open invoices to pay, {payments} asked")
            print(f"freshness: paying {payments} invoices on their hosted pages, one at a time", flush=True)
            samples = []
            for invoice, hosted_url in invoices:
                started = time.perf_counter()
                pay = urllib.request.Request(f"{hosted_url}/pay", data=b"", method="POST")  # noqa: S310
                with urllib.request.urlopen(pay, timeout=60):  # noqa: S310 - the sandbox's own page
                    pass
                _wait_until(
                    f"{invoice} paid", lambda i=invoice: _published(db, STATUS, i) == [("paid",)], loop, log
                )
                samples.append(time.perf_counter() - started)
        nudged = _published(
            db,
            "SELECT epoch(finished_at) - epoch(started_at) FROM sync_runs "
            "WHERE mode = 'incremental' AND status = 'succeeded' ORDER BY id",
        )[1:]  # the loop's first run is its start, not a webhook's
    run_seconds = [seconds for (seconds,) in nudged]
    customers = account_customers(account)
    p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
    return Result(
        name="freshness",
        title=f"Freshness: a payment on the hosted invoice page until the published warehouse shows it "
        f"({customers:,}-customer account)",
        columns=["account", "payments", "p50 s", "p95 s", "max s", "runs", "run p50 s"],
        rows=[
            [
                f"{customers:,} customers",
                payments,
                round(p50, 2),
                round(p95, 2),
                round(max(samples), 2),
                len(run_seconds),
                round(percentile(run_seconds, 0.5), 2) if run_seconds else "",
            ],
        ],
        notes=[
            f"**p95 {p95:.1f} s** from the payment to the invoice shown paid in the published warehouse, "
            f"with no manual sync: the sandbox sends the payment's webhooks, the loop waits "
            f"{DEBOUNCE_SECONDS:g} s so a burst is one run, then runs incrementally from the Events API.",
            f"Payments one at a time (each waits until the previous one is visible); the sandbox answers "
            f"/v1 with {latency_ms:g} ms latency and {rate_limit:g} requests/s. Sync loop: `{command}` "
            f"with STRIPE_WEBHOOK_SECRET in its environment.",
            "Run p50 is one nudged incremental run as sync_runs records it (snapshot copy and publish "
            "included, process start-up not: the loop is already running).",
        ],
        figures={
            "customers": customers,
            "payments": payments,
            "seconds": [round(s, 3) for s in samples],
            "p50_s": round(p50, 3),
            "p95_s": round(p95, 3),
            "max_s": round(max(samples), 3),
            "debounce_s": DEBOUNCE_SECONDS,
            "nudged_runs": len(run_seconds),
            "run_seconds": [round(s, 3) for s in run_seconds],
            "backfill": backfill.__dict__,
        },
    )
