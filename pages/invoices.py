"""All invoices, filtered by status, date, currency and amount, with CSV export."""

import streamlit as st

from console import access

access.require_page("invoices")
st.title(access.PAGES_BY_KEY["invoices"].title)
st.info("All invoices, filtered by status, date, currency and amount, with CSV export. Coming soon.")
