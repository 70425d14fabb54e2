"""Backfill: the sync against a served account at Stripe's latency and rate limit, and
the generic baseline against the same account in the same run."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from bench import baseline
from bench.account import ServedAccount, account_customers, listed_objects, reload_requests
from bench.measure import run_child
from bench.results import Result
from bench.synthetic_warehouse import ROOT


@dataclass(frozen=True)
class SyncRun:
    mode: str
    status: str
    seconds: float  # wall time of the process, start-up included
    requests: int
    events: int
    rows: dict[str, int]  # rows written per table, as sync_runs records them
    peak_rss_bytes: int
    command: str
    error: str | None = None  # the sync's one-line reason when it exited non-zero


def recorded_backfill(db: Path) -> SyncRun:
    """The backfill that built `db`, as its sync_runs recorded it (no memory figure: 0)."""
    with duckdb.connect(str(db), read_only=True) as con:
        started, finished, requests, objects = con.execute(
            "SELECT started_at, finished_at, requests, objects FROM sync_runs "
            "WHERE mode = 'full' AND status = 'succeeded' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    seconds = (finished - started).total_seconds()
    return SyncRun("full", "succeeded", seconds, requests, 0, json.loads(objects), 0, "(reused)")


def sync_env(served: ServedAccount) -> dict[str, str]:
    """The sync's environment: the sandbox's key and address, no settings from a secrets file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "BILLING_"))}
    env.update(
        STRIPE_API_KEY=served.api_key,
        STRIPE_API_BASE=served.base_url,
        CONSOLE_SECRETS_FILE="/nonexistent",
    )
    return env


def run_sync(served: ServedAccount, db: Path, log: Path, *, full: bool, workers: int, rate: float) -> SyncRun:
    """`python -m sync` in its own process; figures from its exit, its memory and sync_runs."""
    args = ["-m", "sync", "--db", str(db), "--workers", str(workers), "--rate", f"{rate:g}"]
    if full:
        args.append("--full")
    child = run_child([sys.executable, *args], env=sync_env(served), cwd=ROOT, log=log)
    command = "python " + " ".join(args).replace(str(ROOT) + "/", "")  # as run from the repository
    error = None
    if child.returncode != 0:
        reasons = [line for line in child.output.splitlines() if "sync failed" in line or "sync not" in line]
        error = f"exit {child.returncode}: " + (reasons[-1].split("ERROR", 1)[-1].strip() if reasons else "")
        print(f"the sync failed ({error[:300]}), see {log}", flush=True)
    mode, status, requests, events, objects = ("full" if full else "incremental", "failed", 0, 0, None)
    if db.exists():
        with duckdb.connect(str(db), read_only=True) as con:
            last = con.execute(
                "SELECT mode, status, requests, events, objects FROM sync_runs ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if last and (error is None or last[1] != "succeeded"):
            mode, status, requests, events, objects = last
    return SyncRun(
        mode,
        status if error is None else "failed",
        round(child.seconds, 2),
        int(requests or 0),
        int(events or 0),
        json.loads(objects) if objects else {},
        child.peak_rss_bytes,
        command,
        error,
    )


def run(
    served: ServedAccount,
    account: Path,
    work: Path,
    *,
    workers: int,
    rate_limit: float,
    baseline_seconds_per_resource: float | None,
) -> tuple[Result, SyncRun, Path]:
    """The backfill and the baseline; returns the result, the sync's run and its warehouse."""
    db = work / "backfill.duckdb"
    for leftover in work.glob("backfill.duckdb*"):
        leftover.unlink()
    listed = listed_objects(account)
    total = sum(listed.values())
    print(f"backfill: {total:,} objects to list; running the sync", flush=True)
    sync = run_sync(served, db, work / "sync-backfill.log", full=True, workers=workers, rate=rate_limit)
    print(f"backfill: sync {sync.status} in {sync.seconds:.1f} s; running the baseline", flush=True)

    base = baseline.load(
        work / "baseline.duckdb",
        api_key=served.api_key,
        api_base=served.base_url,
        seconds_per_resource=baseline_seconds_per_resource,
    )
    # The baseline's time for the whole account: each resource at the rate it reached on it.
    base_seconds = sum(
        load.seconds if load.complete else listed[name] / load.rate for name, load in base.resources.items()
    )
    sync_rate = total / sync.seconds
    base_rate = total / base_seconds
    budget_share = sync.requests / (rate_limit * sync.seconds)
    size_mb = db.stat().st_size / 1e6 if sync.error is None else 0.0
    figures: dict[str, Any] = {
        "listed_objects": listed,
        "sync": {
            **sync.__dict__,
            "objects_per_second": round(sync_rate, 1),
            "budget_share": round(budget_share, 3),
            "warehouse_mb": round(size_mb, 1),
        },
        "baseline": {
            "complete": base.complete,
            "measured_objects": base.objects,
            "measured_requests": base.requests,
            "measured_seconds": round(base.seconds, 2),
            "full_reload_seconds": round(base_seconds, 1),
            "full_reload_requests": reload_requests(listed),
            "per_resource": {
                name: {**load.__dict__, "objects_per_second": round(load.rate, 1)}
                for name, load in base.resources.items()
            },
        },
        "speedup": round(sync_rate / base_rate, 2),
        "rate_limit": rate_limit,
        "workers": workers,
    }  # fmt: skip
    peak_mb = sync.peak_rss_bytes / 1e6
    base_requests = reload_requests(listed)
    extrapolated = "" if base.complete else " (extrapolated)"
    base_share = base_requests / (rate_limit * base_seconds)
    sandbox = f"python -m sandbox serve --latency-ms {served_latency(served)} --rate-limit {rate_limit:g}"
    if sync.error is None:
        rows = [
            ["objects listed", f"{total:,}", f"{total:,}"],
            ["seconds", f"{sync.seconds:,.1f}", f"{base_seconds:,.1f}{extrapolated}"],
            ["objects/s", f"{sync_rate:,.0f}", f"{base_rate:,.0f}"],
            ["requests", f"{sync.requests:,}", f"{base_requests:,}"],
            ["share of the request budget", f"{budget_share:.0%}", f"{base_share:.0%}"],
            ["peak memory (RSS)", f"{peak_mb:,.0f} MB", "n/a (in the benchmark process)"],
            ["warehouse file", f"{size_mb:,.0f} MB", ""],
        ]  # fmt: skip
        outcome = (
            f"speed-up over the baseline: **{sync_rate / base_rate:.1f}x** (target at least 4x); "
            f"request budget used: **{budget_share:.0%}** (target at least 85%); peak RSS "
            f"**{peak_mb:,.0f} MB** (target under 500 MB)."
        )
    else:
        rows = [
            ["objects listed", f"{total:,}", f"{total:,}"],
            ["outcome", f"**failed** after {sync.seconds:,.0f} s", "done" if base.complete else "sampled"],
            ["seconds", "-", f"{base_seconds:,.1f}{extrapolated}"],
            ["objects/s", "-", f"{base_rate:,.0f}"],
            ["requests", f"{sync.requests:,} (until it failed)", f"{base_requests:,}"],
            ["peak memory (RSS)", f"{peak_mb:,.0f} MB", "n/a (in the benchmark process)"],
        ]  # fmt: skip
        outcome = f"**The sync failed**: {sync.error}"
    notes = [
        f"Sync: `{sync.command}` against `{sandbox}` serving a generated account ({account.name}); {outcome}",
        "Baseline: `bench/baseline.py`, each resource through one cursor, one request at a time, with "
        "the stripe package's `auto_paging_iter()` (a StripeObject per object), stored as JSON in DuckDB.",
    ]
    if not base.complete:
        notes.append(
            f"The baseline ran for at most {baseline_seconds_per_resource:g} s per resource "
            f"({base.objects:,} objects, {base.requests:,} requests in {base.seconds:,.0f} s); its time "
            "for the whole account is extrapolated from the rate it reached on each resource, its "
            "requests are one per page of 100."
        )
    result = Result(
        name="backfill",
        title=f"Backfill of an account of {account_customers(account):,} customers ({total:,} objects) "
        f"at {served_latency(served)} ms latency, {rate_limit:g} requests/s",
        columns=["", "sync (python -m sync --full)", "baseline (generic loader)"],
        rows=rows,
        notes=notes,
        figures=figures,
    )
    return result, sync, db


def served_latency(served: ServedAccount) -> str:
    """The latency the sandbox was started with, read back from its command line."""
    args = served.process.args
    return str(args[args.index("--latency-ms") + 1]) if "--latency-ms" in args else "0"
