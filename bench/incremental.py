"""Incremental: changes applied to the served account, then one incremental sync, beside
what reloading everything would cost."""

from __future__ import annotations

from pathlib import Path

from bench.account import ServedAccount, account_customers, apply_changes, listed_objects, reload_requests
from bench.backfill import SyncRun, run_sync
from bench.results import Result


def run(
    served: ServedAccount,
    account: Path,
    db: Path,
    work: Path,
    backfill: SyncRun,
    *,
    changes: int,
    workers: int,
    rate_limit: float,
) -> Result:
    """Apply `changes` changes, then sync the warehouse `db` that a backfill made; twice: the
    first run after a backfill copies the live file (there is no standby yet), the second
    builds on the standby, as every later run does (sync/publish.py)."""
    runs: list[SyncRun] = []
    for n in (1, 2):
        print(f"incremental {n}: applying {changes:,} changes", flush=True)
        answer = apply_changes(served, changes, work / f"changes-{n}.log", seed=4 + n)
        log = work / f"sync-incremental-{n}.log"
        sync = run_sync(served, db, log, full=False, workers=workers, rate=rate_limit)
        if sync.error is not None:
            # A failed run's request count is no figure: stop rather than report a ratio.
            raise RuntimeError(f"the incremental sync failed: {sync.error}")
        if sync.mode != "incremental":
            raise RuntimeError(f"expected an incremental run, the sync ran a {sync.mode} one (see its log)")
        runs.append(sync)
    copied, caught_up = runs
    sync = caught_up
    listed = listed_objects(account)
    reload = reload_requests(listed)
    ratio = reload / max(1, sync.requests)
    written = ", ".join(f"{table} {count:,}" for table, count in sorted(sync.rows.items()))
    rows = [
        ["incremental sync, first after the backfill (copies the live file)", f"{copied.requests:,}",
         f"{copied.seconds:,.1f}", f"{copied.events:,}", f"{copied.peak_rss_bytes / 1e6:,.0f}"],
        ["incremental sync, later runs (the standby caught up)", f"{sync.requests:,}",
         f"{sync.seconds:,.1f}", f"{sync.events:,}", f"{sync.peak_rss_bytes / 1e6:,.0f}"],
        ["full reload, generic loader (one request per page of 100)", f"{reload:,}",
         f"{reload / rate_limit:,.1f} at best (rate limit)", "", ""],
        ["full backfill, this sync", f"{backfill.requests:,}", f"{backfill.seconds:,.1f}", "",
         f"{backfill.peak_rss_bytes / 1e6:,.0f}"],
    ]  # fmt: skip
    return Result(
        name="incremental",
        title=f"Incremental run after {changes:,} changes to an account of {account_customers(account):,} "
        f"customers ({sum(listed.values()):,} objects)",
        columns=["run", "requests", "seconds", "events read", "peak RSS (MB)"],
        rows=rows,
        notes=[
            f"Reload / incremental requests: **{ratio:,.0f}x fewer** (target at least 50x); "
            f"the incremental run took **{sync.seconds:.1f} s** wall time on the standby "
            f"({copied.seconds:.1f} s for the first run after a backfill, which copies the live file), "
            f"process start-up included (target: a few seconds).",
            f"Changes made with `python -m sandbox change --count {changes}` on the served account "
            f"(same sandbox as the backfill, {rate_limit:g} requests/s); sync: `{sync.command}`.",
            f"Rows written by the incremental run: {written}.",
        ],
        figures={
            "changes": changes,
            "change_answer": answer,
            "incremental": sync.__dict__,
            "incremental_copy": copied.__dict__,
            "reload_requests": reload,
            "backfill_requests": backfill.requests,
            "ratio_reload_to_incremental": round(ratio, 1),
        },
    )
