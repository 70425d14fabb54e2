"""Search customers by email, name, Stripe id or invoice number; a chosen row opens the customer."""

import streamlit as st

from console.ui import snapshot_cache
from console.ui.frame import page_frame
from console.ui.widgets import customer_table, open_customer_if_chosen
from console.warehouse import customers

frame = page_frame("customers")
settings = frame.settings
open_customer_if_chosen()

PAGE_KEY = "customer_results_page"

text = st.text_input(
    "Search",
    placeholder="Email, name, cus_…, sub_…, in_… or an invoice number",
    help="Part of an email or a name (case and accents do not matter), "
    "or an exact Stripe id or invoice number.",
    key="customer_search",
)
status_col, currency_col, dunning_col, delinquent_col = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
status = status_col.selectbox(
    "Subscription status", [None, *customers.SUBSCRIPTION_STATUSES], format_func=lambda s: s or "Any"
)
currency = currency_col.selectbox(
    "Currency",
    [None, *snapshot_cache.read(settings, customers.currencies)],
    format_func=lambda c: c.upper() if c else "Any",
)
dunning_only = dunning_col.checkbox("In dunning")
delinquent_only = delinquent_col.checkbox("Delinquent")

query = (text, status, dunning_only, delinquent_only, currency)
if st.session_state.get("customer_last_query") != query:
    st.session_state["customer_last_query"] = query
    st.session_state[PAGE_KEY] = 1
result = snapshot_cache.read(settings, customers.search_customers, *query, st.session_state.get(PAGE_KEY, 1))
st.session_state[PAGE_KEY] = result.page

if result.total == 0:
    if result.key.kind is customers.SearchKind.ALL:
        st.info("No customer matches these filters. Clear a filter to see more.")
    else:
        st.info(f"No customer found for this {result.key.kind}:")
        st.code(result.key.value, language=None)
        if result.key.exact:
            st.caption(
                "Ids and invoice numbers must match exactly. Recent changes appear after the next sync."
            )
    st.stop()

shown_from = (result.page - 1) * customers.PAGE_SIZE + 1
shown_to = shown_from + len(result.rows) - 1
st.caption(
    f"{result.total_text} customer(s), newest first; showing {shown_from:,}-{shown_to:,}. "
    "Select a row to open the customer."
    + (" Filters do not apply to an exact id or invoice number." if result.key.exact else "")
)
customer_table(result.rows, "customer_results")
if result.page_count > 1:
    st.pagination(result.page_count, key=PAGE_KEY)
