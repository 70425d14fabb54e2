"""All invoices, filtered by status, date, currency and amount, with CSV export."""

from decimal import Decimal

import streamlit as st

from console.display.money import decimals
from console.ui import snapshot_cache
from console.ui.frame import page_frame
from console.ui.widgets import csv_download
from console.warehouse import invoices

frame = page_frame("invoices")
settings = frame.settings

status_col, date_col, currency_col = st.columns([2, 2, 1])
statuses = status_col.multiselect("Status", invoices.INVOICE_STATUSES, placeholder="Any status")
dates = date_col.date_input("Created between (UTC dates)", value=(), format="YYYY-MM-DD")
currency = currency_col.selectbox(
    "Currency",
    [None, *snapshot_cache.read(settings, invoices.invoice_currencies)],
    format_func=lambda c: c.upper() if c else "Any",
)
amount_min = amount_max = None
if currency:
    step = float(Decimal(1).scaleb(-decimals(currency)))
    low_col, high_col = st.columns(2)
    low = low_col.number_input(
        f"Amount due at least ({currency.upper()})", min_value=0.0, value=None, step=step
    )
    high = high_col.number_input(
        f"Amount due at most ({currency.upper()})", min_value=0.0, value=None, step=step
    )
    amount_min = Decimal(str(low)) if low is not None else None
    amount_max = Decimal(str(high)) if high is not None else None
else:
    st.caption("Choose a currency to filter by amount: amounts in different currencies do not compare.")

created_from = dates[0] if len(dates) > 0 else None
created_to = dates[1] if len(dates) > 1 else None
chosen = invoices.InvoiceFilter(tuple(statuses), created_from, created_to, currency, amount_min, amount_max)
found = snapshot_cache.read(settings, invoices.list_invoices, chosen)

if found.total == 0:
    st.info("No invoice matches these filters. Widen the dates or clear a filter.")
    st.stop()

st.dataframe(found.totals, hide_index=True)
shown = len(found.rows)
st.caption(
    f"{found.total:,} invoice(s) match; showing the newest {shown:,}."
    + (" Narrow the filters to see the rest." if shown < found.total else "")
)
st.dataframe(
    found.rows[invoices.TABLE_COLUMNS],
    hide_index=True,
    column_config={"Hosted invoice": st.column_config.LinkColumn(display_text="Open")},
)
csv_download(
    found.rows,
    "Download CSV",
    "invoices.csv",
    help="The rows shown, plus amounts in integer minor units for spreadsheets.",
)
