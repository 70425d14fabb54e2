"""Months and periods of the finance tables: UTC calendar months, numbered absolutely
(year * 12 + month - 1), and the helpers the pages use to narrow a table to one currency
and a range of months."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from fractions import Fraction

import pandas as pd

_MONTH_TEXT = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_number(text: str) -> int:
    """'2026-03' -> absolute month number; ValueError with a clear message otherwise."""
    match = _MONTH_TEXT.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2026-03")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def month_text(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def month_start(text: str) -> datetime:
    """The first instant (naive UTC) of a 'YYYY-MM' month."""
    number = month_number(text)
    return datetime(number // 12, number % 12 + 1, 1)


def utc_naive(now: datetime | None) -> datetime:
    """The warehouse holds naive UTC timestamps; compare like with like."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


def current_minute() -> datetime:
    """Now to the minute: the finance figures' "now", so that a cached result lasts a minute."""
    return utc_naive(None).replace(second=0, microsecond=0)


def rate(numerator: Fraction | int, denominator: Fraction | int) -> float:
    """numerator / denominator as a float; NaN (an empty cell) when the denominator is 0."""
    return float(Fraction(numerator) / denominator) if denominator else float("nan")


def since_filter(frame: pd.DataFrame, since: str | None) -> pd.DataFrame:
    if since is None:
        return frame
    floor = month_text(month_number(since))
    return frame[frame["month"] >= floor]


def narrow(frame: pd.DataFrame, currency: str, first: str, last: str, column: str = "month") -> pd.DataFrame:
    """Rows of one currency with `column` (a 'YYYY-MM') between first and last, both included."""
    keep = (frame["currency"] == currency) & (frame[column] >= first) & (frame[column] <= last)
    return frame[keep].reset_index(drop=True)


def month_span(first: str, last: str) -> list[str]:
    """Every month from first to last, both included: a time axis with no month missing."""
    return [month_text(n) for n in range(month_number(first), month_number(last) + 1)]


def span(table: pd.DataFrame, currency: str | None = None, column: str = "month") -> list[str]:
    """Every month from the first to the last of a table's rows (of one currency, if given),
    empty months included: the month slider's options."""
    present = table[column] if currency is None else table.loc[table["currency"] == currency, column]
    return month_span(present.min(), present.max()) if len(present) else []


def continuous(
    frame: pd.DataFrame, currency: str, first: str, last: str, column: str = "month"
) -> pd.DataFrame:
    """`narrow`, with a row for every month from first to last: a month with no row gets zero
    counts and amounts and an empty (NaN) rate, never 0%, since nothing was measured."""
    shown = narrow(frame, currency, first, last, column)
    filled = pd.DataFrame({column: month_span(first, last)}).merge(shown, on=column, how="left")
    filled["currency"] = currency
    for name in filled.columns:
        if name not in (column, "currency") and not name.endswith("_rate"):
            filled[name] = filled[name].fillna(0).astype("int64")
    return filled[list(frame.columns)]


def month_of(now: datetime) -> str:
    return now.strftime("%Y-%m")


def last_complete(months: list[str], now: datetime) -> str:
    """The latest of `months` that has ended by `now`; the current one only when it is alone."""
    complete = [m for m in months if m < month_of(now)]
    return complete[-1] if complete else months[-1]


def busiest_currency(
    table: pd.DataFrame, volume: str, first: str | None = None, last: str | None = None
) -> str:
    """The currency with the most `volume` (e.g. invoices entered, subscribers) between first and
    last (all months when not given); ties go to the first in alphabetical order."""
    rows = table
    if first is not None and last is not None:
        rows = table[(table["month"] >= first) & (table["month"] <= last)]
    if rows.empty:
        rows = table
    totals = rows.groupby("currency")[volume].sum().reset_index()
    return totals.sort_values([volume, "currency"], ascending=[False, True])["currency"].iloc[0]
