"""Search customers by email, name, Stripe id or invoice number; a chosen row opens the customer.

The search and filters live in the page's address, so reload and Back show the same results;
an exact id or invoice number that the agent just typed opens its customer at once.
"""

import streamlit as st

from console.staff.roles import PAGES_BY_KEY
from console.ui import snapshot_cache
from console.ui.frame import page_frame
from console.ui.widgets import (
    customer_table,
    from_url,
    keep_in_url,
    open_customer_if_chosen,
    restore_url_state,
)
from console.warehouse import customers

frame = page_frame("customers")
settings = frame.settings
open_customer_if_chosen()
restore_url_state("customers", ["q", "status", "currency", "dunning", "delinquent", "page"])

PAGE_KEY = "customer_results_page"
TYPED = "customer_search_typed"  # set when the agent submits the box (not when the address fills it)

text = st.text_input(
    "Search",
    placeholder="Email, name, cus_…, sub_…, in_… or an invoice number",
    help="Part of an email or a name (case and accents do not matter), "
    "or an exact Stripe id or invoice number.",
    key="customer_search",
    value=from_url("q", ""),
    on_change=lambda: st.session_state.update({TYPED: True}),
)
status_col, currency_col, dunning_col, delinquent_col = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
statuses = [None, *customers.SUBSCRIPTION_STATUSES]
status = status_col.selectbox(
    "Subscription status",
    statuses,
    index=statuses.index(from_url("status", None, statuses)),
    format_func=lambda s: s or "Any",
    key="customer_status",
)
currencies = [None, *snapshot_cache.read(settings, customers.currencies)]
currency = currency_col.selectbox(
    "Currency",
    currencies,
    index=currencies.index(from_url("currency", None, currencies)),
    format_func=lambda c: c.upper() if c else "Any",
    key="customer_currency",
)
dunning_only = dunning_col.checkbox("In dunning", value=from_url("dunning") == "true", key="customer_dunning")
delinquent_only = delinquent_col.checkbox(
    "Delinquent", value=from_url("delinquent") == "true", key="customer_delinquent"
)

query = (text, status, dunning_only, delinquent_only, currency)
if PAGE_KEY not in st.session_state:
    st.session_state["customer_last_query"] = query
    st.session_state[PAGE_KEY] = int(from_url("page", "1")) if from_url("page", "1").isdigit() else 1
if st.session_state.get("customer_last_query") != query:
    st.session_state["customer_last_query"] = query
    st.session_state[PAGE_KEY] = 1
result = snapshot_cache.read(settings, customers.search_customers, *query, st.session_state.get(PAGE_KEY, 1))
st.session_state[PAGE_KEY] = result.page
keep_in_url(
    "customers",
    q=text.strip(),
    status=status,
    currency=currency,
    dunning=dunning_only,
    delinquent=delinquent_only,
    page=result.page,
)
if st.session_state.pop(TYPED, False) and result.key.exact and result.total == 1:
    st.switch_page(PAGES_BY_KEY["customer"].path, query_params={"id": result.rows["Customer id"].iloc[0]})

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
