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


def currencies(table: pd.DataFrame) -> list[str]:
    """The currencies of a table, the one with the most rows first."""
    counts = table.groupby("currency").size().reset_index(name="rows")
    return counts.sort_values(["rows", "currency"], ascending=[False, True])["currency"].tolist()


def months(table: pd.DataFrame, currency: str, column: str = "month") -> list[str]:
    return sorted(table.loc[table["currency"] == currency, column].unique().tolist())


def narrow(frame: pd.DataFrame, currency: str, first: str, last: str, column: str = "month") -> pd.DataFrame:
    """Rows of one currency with `column` (a 'YYYY-MM') between first and last, both included."""
    keep = (frame["currency"] == currency) & (frame[column] >= first) & (frame[column] <= last)
    return frame[keep].reset_index(drop=True)
