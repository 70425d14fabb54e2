"""Widgets the pages share: notices that may quote customer data, a table whose row opens
the customer, and the one CSV download
(console/display/tables.py: no cell can carry a formula)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import pandas as pd
import streamlit as st

from console.display.tables import csv_text
from console.staff.roles import PAGES_BY_KEY

_OPEN_CUSTOMER = "open_customer"
# kind -> (badge text, icon, colour)
_NOTICES = {
    "error": ("Not done", ":material/error:", "red"),
    "warning": ("Check", ":material/warning:", "orange"),
    "info": ("Note", ":material/info:", "blue"),
    "success": ("Done", ":material/check_circle:", "green"),
}


def notice(kind: str, message: str) -> None:
    """A notice whose text may quote customer data (a name, an email, Stripe's words).

    Streamlit's alerts render Markdown, which turns a bare URL or address into a link; this
    shows the text literally (st.text) under a coloured badge, so nothing in it is active.
    """
    label, icon, color = _NOTICES[kind]
    with st.container(border=True):
        st.badge(label, icon=icon, color=color)
        st.text(message)


def open_customer_if_chosen() -> None:
    """Go to the customer page when a row of a `customer_table` was chosen on the last run."""
    chosen = st.session_state.pop(_OPEN_CUSTOMER, None)
    if chosen:
        st.switch_page(PAGES_BY_KEY["customer"].path, query_params={"id": chosen})


def _remember_choice(key: str, customer_ids: list[str]) -> None:
    rows = st.session_state[key].selection.rows
    if rows:
        st.session_state[_OPEN_CUSTOMER] = customer_ids[rows[0]]


def customer_table(rows: pd.DataFrame, key: str, id_column: str = "Customer id", **options: object) -> None:
    """A table of customers: selecting a row opens that customer (see `open_customer_if_chosen`)."""
    st.dataframe(
        rows,
        hide_index=True,
        key=key,
        on_select=partial(_remember_choice, key, rows[id_column].tolist()),
        selection_mode="single-row",
        **options,
    )


def csv_download(
    frame: pd.DataFrame | Callable[[], str], label: str, file_name: str, **options: object
) -> None:
    """A download button for `frame` as CSV, in the report command's form.

    `frame` may be a function that returns the CSV text (built with console.display.tables'
    csv_text): it runs only when the button is clicked, for exports too large to build on
    every run.
    """
    st.download_button(
        label,
        frame if callable(frame) else csv_text(frame),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
        key=f"download-{file_name}",
        **options,
    )


def metric_csv_download(frame: pd.DataFrame, name: str, currency: str, first: str, last: str) -> None:
    """A finance table's download, named after what it holds and the period."""
    file_name = f"{name.replace(' ', '-')}-{currency}-{first}-{last}.csv"
    csv_download(frame, f"Download {name} (CSV)", file_name)


def from_url(
    param: str, default: str | None = None, options: Sequence[str | None] | None = None
) -> str | None:
    """The page address's `param` (st.query_params), or `default` when absent or not one of `options`.

    Widgets start from it, so that reload, Back and a shared link show the same results.
    """
    value = st.query_params.get(param, default)
    if options is not None and value not in options:
        return default
    return value


def keep_in_url(page_key: str, /, **params: object) -> None:
    """Write the page's state into its address: None, '', False and 1 (a first page) are left out.

    Also remembered for this browser session: see `restore_url_state`.
    """
    kept = {}
    for name, value in params.items():
        text = "true" if value is True else "" if value in (None, False) else str(value)
        if name == "page" and text == "1":
            text = ""
        if text:
            kept[name] = text
        if not text:
            st.query_params.pop(name, None)
        elif st.query_params.get(name) != text:
            st.query_params[name] = text
    st.session_state[f"url_state_{page_key}"] = kept


def restore_url_state(page_key: str, names: Sequence[str]) -> None:
    """Before the page's widgets: drop other pages' parameters from the address and, when it holds
    none of this page's, put back what the page last showed in this session.

    Streamlit's Back keeps the address's query of the page it leaves (customers?id=cus_...),
    so without this Back would land on an empty search.
    """
    for name in [n for n in st.query_params if n not in names]:
        del st.query_params[name]
    remembered = st.session_state.get(f"url_state_{page_key}")
    if remembered and not any(name in st.query_params for name in names):
        st.query_params.update(remembered)
