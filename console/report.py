"""Finance tables on the command line.

    python -m console.report churn|dunning|recovery [--db PATH] [--ops-db PATH] [--format csv|table]
                             [--since YYYY-MM]

CSV is the exact form of docs/METRICS.md: its column names, one row per (month,
currency) with a non-zero first count, rates as unrounded decimals (empty when the
denominator is 0), money in integer minor units. `table` is for people: amounts in
the currency's own format, rates as percentages. `recovery` also reads the portal links
made from the ops store (--ops-db). Exit codes: 0 done, 2 bad arguments, no warehouse or
no ops store at the --ops-db given, 1 the warehouse could not be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from console import ops
from console.display.tables import csv_text, people_text
from console.ops import audit
from console.warehouse import churn, dunning_outcomes, periods, recovery
from console.warehouse.snapshots import WarehouseMissing, reading
from settings import SettingsError, load_settings
from settings.command_line import OneLineParser


def _data_file(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("give the file's path")
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder, not a file")
    return path


def _since(text: str) -> str:
    try:
        periods.month_number(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None
    return text


def _read(path: Path, name: str, since: str | None, ops_db: Path) -> pd.DataFrame:
    # The links are read before the warehouse: the ops store is console/ops's to open.
    links = audit.links_made(ops.store_for(ops_db)) if name == "recovery" else None
    with reading(path) as conn:
        if name == "churn":
            return churn.churn_table(conn, since=since)
        if name == "recovery":
            return recovery.recovery_table(conn, links, since=since)
        return dunning_outcomes.dunning_table(conn, since=since)


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m console.report", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "table", choices=("churn", "dunning", "recovery"), help="which table (definitions: docs/METRICS.md)"
    )
    parser.add_argument("--db", type=_data_file, help="warehouse file (default: the BILLING_DB setting)")
    parser.add_argument(
        "--ops-db", type=_data_file, help="ops store, for recovery's links (default: the OPS_DB setting)"
    )
    parser.add_argument("--format", choices=("csv", "table"), default="csv", help="csv (default) or table")
    parser.add_argument("--since", type=_since, help="first month to show, YYYY-MM")
    args = parser.parse_args(argv)

    try:
        path = args.db or load_settings().billing_db
        ops_db = args.ops_db or (load_settings().ops_db if args.table == "recovery" else path)
    except SettingsError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.ops_db and not args.ops_db.exists():
        print(f"error: no ops store at {args.ops_db}", file=sys.stderr)
        return 2
    try:
        table = _read(path, args.table, args.since, ops_db)
    except WarehouseMissing as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except duckdb.Error as problem:
        first_line = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
        print(f"error: cannot read the warehouse at {path}: {first_line}", file=sys.stderr)
        return 1
    sys.stdout.write(csv_text(table) if args.format == "csv" else people_text(table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
