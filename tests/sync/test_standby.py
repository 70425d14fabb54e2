"""Runs built on the standby (the file the previous publication replaced, caught up with
that run's changes) give the same warehouse as runs built on a copy of the live file,
never write a file a reader still holds, and survive a kill while catching up."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from console.warehouse import snapshots
from sandbox.testing import SandboxHandle
from tests.sync.account_check import assert_matches_account, query
from tests.sync.test_incremental_edges import own_sandbox  # noqa: F401 -- fixture
from tests.sync.test_recovery import killed_run
from tests.sync.test_sync_sandbox import run, served

USED_STANDBY = "from the standby"


def standby(db: Path) -> Path:
    return db.with_name(db.name + ".standby")


@pytest.fixture
def db(own_sandbox: SandboxHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Path:  # noqa: F811
    """A warehouse after a backfill and a run that kept the backfill's file as its standby."""
    caplog.set_level(logging.INFO, logger="sync")
    handle = own_sandbox
    db = tmp_path / "billing.duckdb"
    run(handle, db)
    assert not standby(db).exists()  # nothing was live before the backfill
    run(handle, db)
    assert standby(db).exists() and not used_standby(caplog)
    return db


def used_standby(caplog: pytest.LogCaptureFixture) -> bool:
    found = any(USED_STANDBY in record.getMessage() for record in caplog.records)
    caplog.clear()
    return found


def test_runs_on_the_standby_match_the_account(
    own_sandbox: SandboxHandle,  # noqa: F811
    db: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for seed in (1, 2, 3):
        own_sandbox.apply_changes(15, seed=seed)
        summary = run(own_sandbox, db)
        assert summary.mode == "incremental"
        assert used_standby(caplog)
        assert_matches_account(db, served(own_sandbox))
        # The standby is the previous live file: one run behind, never the live inode.
        assert standby(db).stat().st_ino != db.stat().st_ino
    assert query(db, "SELECT count(*) FROM customer_search") == query(db, "SELECT count(*) FROM customers")


def test_a_standby_a_reader_still_holds_is_not_written(
    own_sandbox: SandboxHandle,  # noqa: F811
    db: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    con = snapshots.open_snapshot(db)  # the console opens the live file...
    cur = snapshots.cursor(con)
    seen = cur.execute("SELECT count(*), max(created) FROM invoices").fetchall()
    own_sandbox.apply_changes(15, seed=1)
    run(own_sandbox, db)  # ...which becomes the standby
    assert used_standby(caplog)  # (this run's standby was the backfill's file)
    own_sandbox.apply_changes(15, seed=2)
    run(own_sandbox, db)
    assert not used_standby(caplog)  # still held: the run copied the live file instead
    assert cur.execute("SELECT count(*), max(created) FROM invoices").fetchall() == seen
    cur.close()
    del cur, con  # the console drops a replaced snapshot: its file is free again
    own_sandbox.apply_changes(15, seed=3)
    run(own_sandbox, db)
    run(own_sandbox, db)
    assert used_standby(caplog)
    assert_matches_account(db, served(own_sandbox))
    assert query(db, "SELECT count(*) FROM customer_search") == query(db, "SELECT count(*) FROM customers")


# SIGKILLs the run as it renames the standby to `.next` or as it catches it up.
KILLED_CATCH_UP = textwrap.dedent(
    """
    import os, signal, sys
    db, key, base, when = sys.argv[1:5]

    def kill_at(event, args):
        if when == "taking" and event == "os.rename" and str(args[0]).endswith(".standby"):
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(kill_at)
    import duckdb, sync
    if when == "catching-up":
        real = duckdb.DuckDBPyConnection.execute
        def execute(self, sql, *a, **k):
            if sql.startswith("INSERT INTO main.invoices SELECT"):
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, sql, *a, **k)
        duckdb.DuckDBPyConnection.execute = execute
    sync.run(__import__("pathlib").Path(db), api_key=key, api_base=base, rate=500)
    """
)


@pytest.mark.parametrize("when", ["taking", "catching-up"])
def test_a_run_killed_while_taking_the_standby_loses_nothing(
    own_sandbox: SandboxHandle,  # noqa: F811
    db: Path,
    when: str,
) -> None:
    own_sandbox.apply_changes(15, seed=1)
    run(own_sandbox, db)
    live = db.read_bytes()
    own_sandbox.apply_changes(15, seed=2)
    killed_run(own_sandbox, db, when, script=KILLED_CATCH_UP)
    assert db.read_bytes() == live  # the live file is untouched
    summary = run(own_sandbox, db)
    assert summary.mode == "incremental"
    assert_matches_account(db, served(own_sandbox))
    statuses = [status for (status,) in query(db, "SELECT status FROM sync_runs ORDER BY id")]
    assert statuses[-2:] == ["interrupted", "succeeded"]
