"""The currency and months of a finance page, kept in the URL (`?currency=usd&from=2025-01&to=2025-06`)
so that a reload or a shared link shows the same figures.

The URL seeds the widgets when the page opens; afterwards the widgets lead and the URL
follows them. Without a currency in the URL the default is the one with the most volume
in the chosen period (most invoices entered, most subscribers); the months offered run
without a gap from the currency's first month to its last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import streamlit as st

from console.warehouse import periods


@dataclass(frozen=True)
class Period:
    currency: str
    first: str
    last: str
    partial: str | None  # the current month, when it is in the period: its figures are the month so far

    @property
    def months(self) -> list[str]:
        return periods.month_span(self.first, self.last)


def _url_month(name: str) -> str | None:
    text = st.query_params.get(name)
    try:
        periods.month_number(text or "")
    except ValueError:
        return None
    return text


def _clamped(month: str | None, options: list[str], fallback: str) -> str:
    if month is None:
        return fallback
    return min(max(month, options[0]), options[-1])


def choose_period(
    page: str, table: pd.DataFrame, volume: str, label: str, now: datetime, *, end_complete: bool = False
) -> Period:
    """Currency and month range widgets for `table` (columns month, currency, `volume`).

    `end_complete`: the default range stops at the last complete month, for pages whose
    headline figures add up the period.
    """
    url_first, url_last = _url_month("from"), _url_month("to")
    currencies = sorted(table["currency"].unique().tolist())
    currency_key, months_key = f"{page}-currency", f"{page}-months"
    if currency_key not in st.session_state:
        wanted = st.query_params.get("currency")
        st.session_state[currency_key] = (
            wanted if wanted in currencies else periods.busiest_currency(table, volume, url_first, url_last)
        )
    currency_col, range_col = st.columns([1, 3])
    currency = currency_col.selectbox("Currency", currencies, format_func=str.upper, key=currency_key)

    options = periods.span(table, currency)
    default_last = periods.last_complete(options, now) if end_complete else options[-1]
    # The slider's own value once it exists (its key alone identifies it, across currencies), else the URL's.
    # The URL counts only when the page opens: a currency with one month (no slider) must not
    # narrow the next currency chosen to that month.
    seeded = st.session_state.get(months_key)
    if not (isinstance(seeded, tuple | list) and len(seeded) == 2):
        seeded = (None, None) if st.session_state.get(f"{page}-opened") else (url_first, url_last)
    st.session_state[f"{page}-opened"] = True
    first = _clamped(seeded[0], options, options[0])
    last = _clamped(seeded[1], options, default_last)
    first, last = min(first, last), max(first, last)
    with range_col:
        if len(options) > 1:
            first, last = st.select_slider(label, options=options, value=(first, last), key=months_key)
        else:
            st.caption(f"One month with figures in {currency.upper()}: {options[0]}.")
    partial = periods.month_of(now)
    if end_complete and partial == options[-1] and last < partial:
        range_col.caption(f"{partial} is under way: widen the range to include the month so far.")
    st.query_params.update({"currency": currency, "from": first, "to": last})
    return Period(currency, first, last, partial if first <= partial <= last else None)
