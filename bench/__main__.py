"""`python -m bench [backfill|incremental|queries|pages|freshness|all ...] [--small]`: measure, print,
write bench/results/<name>.md and .json.

The full benchmarks take minutes and build large inputs once (cached under data/bench/):
a sandbox account of 100,000 customers and a warehouse of 1,000,000 customers; freshness
uses a demo-size account (2,000 customers) unless `--account-customers` says otherwise. `--small`
runs the same code on small inputs without latency, in seconds (the test suite's smoke
test), and writes its results elsewhere (data/bench/results-small by default).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, replace

from bench import account, backfill, freshness, incremental, results, synthetic_warehouse
from sandbox.generate import MAX_CUSTOMERS
from settings.command_line import BAD_INPUT, OneLineParser, directory, number

NAMES = ("backfill", "incremental", "queries", "pages", "freshness")


@dataclass(frozen=True)
class Scale:
    account_customers: int
    warehouse_customers: int
    latency_ms: float
    rate_limit: float  # the sandbox's limit; the sync's budget is the same figure
    workers: int
    changes: int
    baseline_seconds_per_resource: float | None
    query_runs: int
    report_runs: int
    page_runs: int
    freshness_customers: int
    freshness_payments: int


FULL = Scale(100_000, 1_000_000, 50, 100, 16, 1000, 20, 50, 5, 5, 2000, 20)
# No latency and no limit (the sync still paces itself at `rate_limit`).
SMALL = Scale(300, 5_000, 0, 1000, 4, 50, None, 5, 1, 1, 300, 3)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    # No `choices=`: Python 3.11's argparse rejects an empty list with nargs="*" and choices.
    parser.add_argument("which", nargs="*", metavar="|".join([*NAMES, "all"]), help="default: all")
    parser.add_argument("--small", action="store_true", help="small inputs, no latency: a smoke test")
    parser.add_argument("--out", type=directory, help="where result files go (default bench/results)")
    parser.add_argument(
        "--cache", type=directory, default=synthetic_warehouse.CACHE, help="cached inputs and work files"
    )
    parser.add_argument(
        "--changes",
        type=number(1, 100_000, integer=True),
        help="incremental: changes made before each run (default 1,000; 50 with --small)",
    )
    parser.add_argument(
        "--reuse-backfill",
        action="store_true",
        help="incremental: start from the warehouse the last backfill left in the work folder",
    )
    parser.add_argument(
        "--account-customers",
        type=number(1, MAX_CUSTOMERS, integer=True),
        help="size of the sandbox account (default 100,000, freshness 2,000; 300 with --small)",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.which) - {*NAMES, "all"})
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join([*NAMES, 'all'])}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    scale = SMALL if args.small else FULL
    if args.account_customers:
        scale = replace(
            scale, account_customers=args.account_customers, freshness_customers=args.account_customers
        )
    if args.changes:
        scale = replace(scale, changes=args.changes)
    out = args.out or (args.cache / "results-small" if args.small else results.RESULTS)
    which = set(NAMES) if not args.which or "all" in args.which else set(args.which)
    work = args.cache / ("work-small" if args.small else "work")
    try:
        work.mkdir(parents=True, exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"python -m bench: cannot make {error.filename}: {error.strerror}", file=sys.stderr)
        return BAD_INPUT

    if which & {"queries", "pages"}:
        big = synthetic_warehouse.cached_warehouse(scale.warehouse_customers, cache=args.cache)
        synthetic_warehouse.mark_fresh(big)
        if "queries" in which:
            from bench import queries  # imports the console (and Streamlit) only when measured

            print(f"queries on {big.name}", flush=True)
            for cold in (False, True):
                measured = queries.run(big, runs=scale.query_runs, report_runs=scale.report_runs, cold=cold)
                results.write(measured, out)
        if "pages" in which:
            from bench import pages  # likewise Playwright

            print(f"pages on {big.name}", flush=True)
            results.write(pages.run(big, work, runs=scale.page_runs), out)

    if "freshness" in which:
        source = account.cached_account(scale.freshness_customers, cache=args.cache)
        measured = freshness.run(
            source, work, payments=scale.freshness_payments, latency_ms=scale.latency_ms,
            rate_limit=scale.rate_limit, workers=scale.workers,
        )  # fmt: skip
        results.write(measured, out)

    if which & {"backfill", "incremental"}:
        source = account.cached_account(scale.account_customers, cache=args.cache)
        with account.serve(source, work / "sandbox.log", scale.latency_ms, scale.rate_limit) as served:
            if "backfill" in which:
                result, run, db = backfill.run(
                    served,
                    source,
                    work,
                    workers=scale.workers,
                    rate_limit=scale.rate_limit,
                    baseline_seconds_per_resource=scale.baseline_seconds_per_resource,
                )
                results.write(result, out)
            elif args.reuse_backfill and (work / "backfill.duckdb").exists():
                # Served accounts are working copies: the backfilled warehouse matches a new one.
                db = work / "backfill.duckdb"
                for leftover in work.glob("backfill.duckdb.*"):
                    leftover.unlink()
                run = backfill.recorded_backfill(db)
            else:  # the incremental run needs a backfilled warehouse, not the baseline
                db = work / "backfill.duckdb"
                for leftover in work.glob("backfill.duckdb*"):
                    leftover.unlink()
                run = backfill.run_sync(
                    served,
                    db,
                    work / "sync-backfill.log",
                    full=True,
                    workers=scale.workers,
                    rate=scale.rate_limit,
                )
            if "incremental" in which and run.error is not None:
                print("incremental: not run, the backfill it starts from failed", file=sys.stderr)
                return 1
            if "incremental" in which:
                changed = incremental.run(
                    served, source, db, work, run,
                    changes=scale.changes, workers=scale.workers, rate_limit=scale.rate_limit,
                )  # fmt: skip
                results.write(changed, out)
            if run.error is not None:
                return 1
    return 0


if __name__ == "__main__":
    # Logs of the sandbox and the sync, accounts and warehouses: all private to the user.
    os.umask(0o077)
    sys.exit(main())
