"""All invoices, filtered by status, date, currency and amount (filters kept in the URL), with CSV export."""

import streamlit as st

from console.ui import snapshot_cache
from console.ui.frame import page_frame
from console.ui.invoice_filters import choose_invoice_filter
from console.ui.widgets import csv_download
from console.warehouse import invoices

frame = page_frame("invoices")
settings = frame.settings

chosen = choose_invoice_filter(snapshot_cache.read(settings, invoices.invoice_currencies))
found = snapshot_cache.read(settings, invoices.list_invoices, chosen)

if found.total == 0:
    st.info("No invoice matches these filters. Widen the dates or clear a filter.")
    st.stop()

st.dataframe(found.totals, hide_index=True)
shown = len(found.rows)
st.caption(
    f"{found.total:,} invoice(s) match; showing the newest {shown:,}."
    + (" Narrow the filters to see the rest here; the CSV has them all." if shown < found.total else "")
)
st.dataframe(
    found.rows[invoices.TABLE_COLUMNS],
    hide_index=True,
    column_config={"Hosted invoice": st.column_config.LinkColumn(display_text="Open")},
)
# Built when clicked, from the full query (not the rows shown), a chunk at a time.
csv_download(
    lambda: snapshot_cache.run_once(settings, invoices.invoices_csv, chosen),
    f"Download CSV ({found.total:,} invoices)",
    "invoices.csv",
    help="Every matching invoice, plus amounts in integer minor units for spreadsheets.",
)
