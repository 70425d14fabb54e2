"""Search customers by email, name, Stripe id or invoice number; a chosen row opens the customer."""

from functools import partial

import streamlit as st

from console import access, customers, freshness, snapshots
from settings import load_settings

staff = access.require_page("customers")
settings = load_settings()
st.title(access.PAGES_BY_KEY["customers"].title)
freshness.render_freshness(settings)

PAGE_KEY = "customer_results_page"


def open_selected(customer_ids: list[str]) -> None:
    rows = st.session_state["customer_results"].selection.rows
    if rows:
        st.session_state["open_customer"] = customer_ids[rows[0]]


chosen = st.session_state.pop("open_customer", None)
if chosen:
    st.switch_page(access.PAGES_BY_KEY["customer"].path, query_params={"id": chosen})

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
    [None, *snapshots.read(settings, customers.currencies)],
    format_func=lambda c: c.upper() if c else "Any",
)
dunning_only = dunning_col.checkbox("In dunning")
delinquent_only = delinquent_col.checkbox("Delinquent")

query = (text, status, dunning_only, delinquent_only, currency)
if st.session_state.get("customer_last_query") != query:
    st.session_state["customer_last_query"] = query
    st.session_state[PAGE_KEY] = 1
result = snapshots.read(settings, customers.search_customers, *query, st.session_state.get(PAGE_KEY, 1))
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
st.dataframe(
    result.rows,
    hide_index=True,
    key="customer_results",
    on_select=partial(open_selected, result.rows["Customer id"].tolist()),
    selection_mode="single-row",
)
if result.page_count > 1:
    st.pagination(result.page_count, key=PAGE_KEY)
