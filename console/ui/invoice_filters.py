"""The invoice list's filters, kept in the URL (`?status=open,paid&from=2026-01-01&to=2026-01-31&
currency=usd&min=10&max=99.5`) so that a reload or a shared link lists the same invoices.

The URL gives the widgets their first values; the widgets (keyed, so a changed default does
not reset them) lead afterwards and the URL follows. Anything malformed in the URL is
ignored, as if it were absent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

import streamlit as st

from console.display.money import decimals
from console.warehouse.invoices import INVOICE_STATUSES, InvoiceFilter


def _url_date(name: str) -> date | None:
    try:
        return date.fromisoformat(st.query_params.get(name, ""))
    except ValueError:
        return None


def _url_amount(name: str) -> float | None:
    try:
        amount = Decimal(st.query_params.get(name, ""))
    except InvalidOperation:
        return None
    return float(amount) if amount.is_finite() and amount >= 0 else None


def _to_url(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value:
            st.query_params[name] = value
        elif name in st.query_params:
            del st.query_params[name]


def choose_invoice_filter(currencies: list[str]) -> InvoiceFilter:
    """The filter widgets, seeded from the URL, and the filter they make."""
    wanted = [s for s in st.query_params.get("status", "").split(",") if s in INVOICE_STATUSES]
    url_dates = tuple(d for d in (_url_date("from"), _url_date("to")) if d is not None)
    options = [None, *currencies]
    url_currency = st.query_params.get("currency")

    status_col, date_col, currency_col = st.columns([2, 2, 1])
    statuses = status_col.multiselect(
        "Status", INVOICE_STATUSES, default=wanted, placeholder="Any status", key="invoices-status"
    )
    dates = date_col.date_input(
        "Created between (UTC dates)", value=url_dates, format="YYYY-MM-DD", key="invoices-dates"
    )
    currency = currency_col.selectbox(
        "Currency",
        options,
        index=options.index(url_currency) if url_currency in options else 0,
        format_func=lambda c: c.upper() if c else "Any",
        key="invoices-currency",
    )
    amount_min = amount_max = None
    if currency:
        step = float(Decimal(1).scaleb(-decimals(currency)))
        low_col, high_col = st.columns(2)
        low = low_col.number_input(
            f"Amount due at least ({currency.upper()})", min_value=0.0, value=_url_amount("min"), step=step,
            key="invoices-min",
        )  # fmt: skip
        high = high_col.number_input(
            f"Amount due at most ({currency.upper()})", min_value=0.0, value=_url_amount("max"), step=step,
            key="invoices-max",
        )  # fmt: skip
        amount_min = Decimal(str(low)) if low is not None else None
        amount_max = Decimal(str(high)) if high is not None else None
    else:
        st.caption("Choose a currency to filter by amount: amounts in different currencies do not compare.")

    created_from = dates[0] if len(dates) > 0 else None
    created_to = dates[1] if len(dates) > 1 else None
    _to_url({
        "status": ",".join(statuses), "from": created_from and created_from.isoformat(),
        "to": created_to and created_to.isoformat(), "currency": currency,
        "min": None if amount_min is None else str(amount_min),
        "max": None if amount_max is None else str(amount_max),
    })  # fmt: skip
    return InvoiceFilter(tuple(statuses), created_from, created_to, currency, amount_min, amount_max)
