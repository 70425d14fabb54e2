"""Finance tables on the command line.

    python -m console.report churn|dunning [--db PATH] [--format csv|table] [--since YYYY-MM]

CSV is the exact form of METRICS.md: its column names, one row per (month,
currency) with a non-zero first count, rates as unrounded decimals (empty when the
denominator is 0), money in integer minor units. `table` is for people: amounts in
the currency's own format, rates as percentages. Exit codes: 0 done, 2 bad
arguments or no warehouse, 1 the warehouse could not be read.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd

from console import metrics
from console.money import format_money
from console.warehouse import WarehouseMissing, open_warehouse
from settings import SettingsError, load_settings

RATE_COLUMNS = ("logo_churn_rate", "mrr_churn_rate", "recovery_rate")
MONEY_COLUMNS = ("mrr_start", "mrr_churned", "amount_recovered", "amount_lost", "amount_pending")
MIN_RATE_DECIMALS = 6


def format_rate(value: float | None) -> str:
    """0.125 -> '0.125000', 1/3 -> '0.3333333333333333' (shortest exact float text), NaN -> ''."""
    if value is None or math.isnan(value):
        return ""
    text = format(Decimal(repr(float(value))), "f")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(MIN_RATE_DECIMALS, '0')}"


def csv_text(table: pd.DataFrame) -> str:
    """A metrics table as METRICS.md's CSV (also what the pages offer for download)."""
    shown = table.copy()
    for column in RATE_COLUMNS:
        if column in shown:
            shown[column] = shown[column].map(format_rate)
    return shown.to_csv(index=False, lineterminator="\n")


def people_frame(table: pd.DataFrame) -> pd.DataFrame:
    """A metrics table for people: money in each row's currency ('$12.34', '¥1,500'), rates as '12.50%'."""
    shown = table.copy()
    for column in MONEY_COLUMNS:
        if column in shown:
            shown[column] = [
                format_money(v, c) for v, c in zip(shown[column], shown["currency"], strict=True)
            ]
    for column in RATE_COLUMNS:
        if column in shown:
            shown[column] = shown[column].map(lambda v: "" if math.isnan(v) else f"{v:.2%}")
    return shown


def people_text(table: pd.DataFrame) -> str:
    """A metrics table for a terminal."""
    return "No rows." if table.empty else people_frame(table).to_string(index=False)


def _since(text: str) -> str:
    try:
        metrics.month_number(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None
    return text


def _read(path: Path, name: str, since: str | None) -> pd.DataFrame:
    conn = open_warehouse(path)
    try:
        return (
            metrics.churn_table(conn, since=since)
            if name == "churn"
            else metrics.dunning_table(conn, since=since)
        )
    finally:
        conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("table", choices=("churn", "dunning"), help="which table (definitions: METRICS.md)")
    parser.add_argument("--db", type=Path, help="warehouse file (default: the BILLING_DB setting)")
    parser.add_argument("--format", choices=("csv", "table"), default="csv", help="csv (default) or table")
    parser.add_argument("--since", type=_since, help="first month to show, YYYY-MM")
    args = parser.parse_args(argv)

    try:
        path = args.db or load_settings().billing_db
    except SettingsError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        table = _read(path, args.table, args.since)
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
