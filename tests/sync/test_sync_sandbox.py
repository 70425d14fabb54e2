"""The sync against the sandbox, through the real `stripe` package over HTTP."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import sync
from sandbox.testing import SandboxHandle, running_sandbox
from tests.sync.account_check import assert_matches_account, query, tables

RATE = 500.0  # the sandbox has no rate limit unless a test sets one


def served(handle: SandboxHandle) -> Path:
    """The folder of the account the sandbox serves (its own copy, changes included)."""
    return Path(handle.server.db_path).parent


@pytest.fixture
def own_sandbox(own_account: Path) -> Iterator[SandboxHandle]:
    with running_sandbox(own_account) as handle:
        yield handle


def run(handle: SandboxHandle, db: Path, **options: object) -> sync.RunSummary:
    return sync.run(db, api_key=handle.api_key, api_base=handle.base_url, rate=RATE, **options)


def test_backfill_reproduces_the_account(
    sandbox: SandboxHandle, sandbox_account: Path, tmp_path: Path
) -> None:
    db = tmp_path / "billing.duckdb"
    summary = run(sandbox, db)
    assert summary.mode == "full"
    assert summary.objects["customers"] > 0 and summary.objects["invoices"] > 0
    assert_matches_account(db, served(sandbox))
    assert query(db, "SELECT mode, status, error FROM sync_runs") == [("full", "succeeded", None)]
    assert query(db, "SELECT count(*) FROM sync_state WHERE name = 'events_cursor'") == [(1,)]


def test_idempotent_runs_change_nothing(sandbox: SandboxHandle, tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    run(sandbox, db)
    before = tables(db)
    again = run(sandbox, db)
    assert again.mode == "incremental"
    assert tables(db) == before
    run(sandbox, db, full=True)
    assert tables(db) == before
    assert [r[0] for r in query(db, "SELECT status FROM sync_runs ORDER BY id")] == ["succeeded"] * 3


def test_incremental_after_changes_equals_a_fresh_backfill(
    own_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    db = tmp_path / "billing.duckdb"
    backfill = run(own_sandbox, db)
    own_sandbox.apply_changes(40)
    incremental = run(own_sandbox, db)
    assert incremental.mode == "incremental" and incremental.events > 0
    assert incremental.requests * 3 < backfill.requests

    fresh = tmp_path / "fresh.duckdb"
    run(own_sandbox, fresh)
    assert_matches_account(db, served(own_sandbox))
    ours, theirs = tables(db), tables(fresh)
    # A fresh backfill knows deleted customers only by id (Stripe no longer lists them);
    # the incremental run kept their last state. Everything else is identical.
    for name in ours:
        if name == "customers":
            assert [r for r in ours[name] if not r[7]] == [r for r in theirs[name] if not r[7]]
            assert {r[0] for r in ours[name] if r[7]} >= {r[0] for r in theirs[name] if r[7]}
        elif name == "payment_methods":
            # A former default no event touched since is out of a fresh backfill's reach
            # (Stripe lists methods only per customer); the incremental run still has it.
            assert set(ours[name]) >= set(theirs[name])
        else:
            assert ours[name] == theirs[name], name


PAYMENT_METHOD_CHANGES = {
    "method_attach",
    "method_update",
    "method_auto_update",
    "method_detach",
    "default_change",
}


def test_payment_method_changes_reach_the_warehouse(own_sandbox: SandboxHandle, tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    run(own_sandbox, db)
    assert_matches_account(db, served(own_sandbox))
    seen: set[str] = set()
    for seed in range(20):  # seeded rounds until every kind of payment-method change happened
        seen |= set(own_sandbox.apply_changes(30, seed=seed)["changes"])
        if seen >= PAYMENT_METHOD_CHANGES:
            break
    assert seen >= PAYMENT_METHOD_CHANGES
    assert run(own_sandbox, db).mode == "incremental"
    assert_matches_account(db, served(own_sandbox))
    # Detached methods stay, with the customer they left; automatic updates show the new card.
    assert query(db, "SELECT count(*) FROM payment_methods WHERE detached AND customer_id IS NULL") == [(0,)]
    assert query(db, "SELECT count(*) > 0 FROM payment_methods WHERE detached") == [(True,)]


def test_converges_despite_429s_500s_latency_and_dropped_connections(
    sandbox: SandboxHandle, sandbox_account: Path, tmp_path: Path
) -> None:
    clean = run(sandbox, tmp_path / "clean.duckdb")
    faults = {"latency_ms": 5, "rate_limit": 40, "error_rate": 0.15, "drop_rate": 0.1, "truncate_rate": 0.1}
    with running_sandbox(sandbox_account, fault_seed=3, **faults) as handle:
        db = tmp_path / "billing.duckdb"
        # Twice the server's rate limit: 429s are certain, and must only slow the run down.
        summary = sync.run(db, api_key=handle.api_key, api_base=handle.base_url, rate=80, workers=8)
        assert_matches_account(db, served(handle))
    assert summary.mode == "full"
    assert summary.requests > clean.requests  # the retries


READER = textwrap.dedent(
    """
    import sys, time, duckdb
    db, stop_file = sys.argv[1], sys.argv[2]
    ok = 0
    import os
    while not os.path.exists(stop_file):
        with duckdb.connect(db, read_only=True) as con:
            con.execute("SELECT count(*), sum(amount_due) FROM invoices").fetchall()
            con.execute("SELECT max(id) FROM sync_runs").fetchall()
        ok += 1
    print(ok)
    """
)


def test_sync_while_the_console_queries_in_a_loop(sandbox: SandboxHandle, tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    run(sandbox, db)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(3):
            run(sandbox, db, full=True)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert int(out) > 0
    assert [r[0] for r in query(db, "SELECT status FROM sync_runs")] == ["succeeded"] * 4


def test_cursor_older_than_event_retention_means_a_full_backfill(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    db = tmp_path / "billing.duckdb"
    run(sandbox, db)
    before = tables(db)
    cursor = query(db, "SELECT value FROM sync_state WHERE name = 'events_cursor'")
    expired = str(int(time.time()) - 31 * 86400)
    with duckdb.connect(str(db)) as con:  # no sync runs now: the test may write the file
        con.execute("UPDATE sync_state SET value = ? WHERE name = 'events_cursor'", [expired])
    summary = run(sandbox, db)
    assert summary.mode == "full"
    assert tables(db) == before
    assert query(db, "SELECT value FROM sync_state WHERE name = 'events_cursor'") == cursor
    assert query(db, "SELECT mode, status FROM sync_runs ORDER BY id") == [("full", "succeeded")] * 2
