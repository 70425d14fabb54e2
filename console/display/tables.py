"""Metric tables and CSV files, one way for every export: the report command, the pages'
downloads, the audit log and the invoice list.

CSV rates are written as docs/METRICS.md asks (unrounded decimals with at least six
digits after the point; empty where the denominator is 0), money as integer minor units,
and a text cell that a spreadsheet would run as a formula (starting with =, +, -, @, tab
or CR) is prefixed with a quote, so customer-controlled text stays text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

import pandas as pd

from console.display.money import format_money

RATE_COLUMNS = (
    "logo_churn_rate", "mrr_churn_rate", "recovery_rate", "linked_recovery_rate", "unlinked_recovery_rate",
    "share",  # the cohorts' retention
)  # fmt: skip
MONEY_COLUMNS = ("mrr_start", "mrr_churned", "amount_recovered", "amount_lost", "amount_pending")
# Each rate's sample size n, the sum of these columns: shown beside the rate for people.
SAMPLE_SIZES = {
    "logo_churn_rate": ("subscribers_start",),
    "mrr_churn_rate": ("subscribers_start",),
    "recovery_rate": ("recovered", "lost"),
    "linked_recovery_rate": ("linked_recovered", "linked_lost"),
    "unlinked_recovery_rate": ("unlinked_recovered", "unlinked_lost"),
}
PARTIAL_LABEL = "(month so far)"
MIN_RATE_DECIMALS = 6
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def format_rate(value: float | None) -> str:
    """0.125 -> '0.125000', 1/3 -> '0.3333333333333333' (shortest exact float text), NaN -> ''."""
    if value is None or math.isnan(value):
        return ""
    text = format(Decimal(repr(float(value))), "f")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(MIN_RATE_DECIMALS, '0')}"


def inert(value: object) -> object:
    """A cell as a spreadsheet will read it: text that would start a formula gets a leading quote."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value


def csv_text(table: pd.DataFrame) -> str:
    """`table` as CSV: rates in the report's form, no cell a spreadsheet would evaluate."""
    shown = table.copy()
    for column in shown.columns:
        if column in RATE_COLUMNS:
            shown[column] = shown[column].map(format_rate)
        elif shown[column].dtype == object or pd.api.types.is_string_dtype(shown[column]):
            shown[column] = shown[column].map(inert)
    return shown.to_csv(index=False, lineterminator="\n")


def csv_text_of_chunks(chunks: Iterable[pd.DataFrame], empty: pd.DataFrame) -> str:
    """`csv_text` of the rows of all `chunks` (frames with the same columns) with one header: an
    export built a chunk at a time. `empty` gives the header when there is no chunk."""
    parts = []
    for chunk in chunks:
        text = csv_text(chunk)
        parts.append(text.partition("\n")[2] if parts else text)
    return "".join(parts) if parts else csv_text(empty)


def people_frame(table: pd.DataFrame, partial: str | None = None) -> pd.DataFrame:
    """A metrics table for people: money in each row's currency ('$12.34', '¥1,500'), rates as '12.50%'
    with their n in the next column, and the `partial` month (the current one) marked as the month so far."""
    shown = table.copy()
    if partial and "month" in shown:
        shown["month"] = [f"{m} {PARTIAL_LABEL}" if m == partial else m for m in shown["month"]]
    for column, parts in SAMPLE_SIZES.items():
        if column in shown and all(part in shown for part in parts):
            n = sum(shown[part] for part in parts)
            shown.insert(shown.columns.get_loc(column) + 1, f"{column}_n", n)
    for column in MONEY_COLUMNS:
        if column in shown and "currency" in shown:
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
