"""Invoices in dunning now, biggest amount at risk first within each currency; a row opens the customer."""

from functools import partial

import streamlit as st

from console import access, dunning_queue, freshness, snapshots
from settings import load_settings

staff = access.require_page("dunning_queue")
settings = load_settings()
st.title(access.PAGES_BY_KEY["dunning_queue"].title)
freshness.render_freshness(settings)


def open_selected(customer_ids: list[str]) -> None:
    rows = st.session_state["dunning_rows"].selection.rows
    if rows:
        st.session_state["open_customer"] = customer_ids[rows[0]]


chosen = st.session_state.pop("open_customer", None)
if chosen:
    st.switch_page(access.PAGES_BY_KEY["customer"].path, query_params={"id": chosen})

queue = snapshots.read(settings, dunning_queue.dunning_queue)
if queue.empty:
    st.success("No invoice is in dunning: every open automatic invoice is either paid or not yet attempted.")
    st.stop()

st.caption("Open invoices charged automatically with at least one failed payment attempt.")
st.dataframe(dunning_queue.currency_summary(queue), hide_index=True)

currencies = list(dunning_queue.currency_summary(queue)["Currency"].str.lower())
currency = st.segmented_control(
    "Currency", ["all", *currencies], default="all", format_func=lambda c: "All" if c == "all" else c.upper()
)
if currency and currency != "all":
    queue = queue[queue["currency"] == currency]

links = dunning_queue.card_links_sent(settings.ops_db, sorted(set(queue["customer_id"])))
table = dunning_queue.queue_table(queue, links, freshness.utc_now())
shown_limit = dunning_queue.QUEUE_LIMIT_PER_CURRENCY
st.caption(
    f"Sorted by amount at risk within each currency (top {shown_limit} per currency). "
    "Select a row to open the customer."
)
st.dataframe(
    table,
    hide_index=True,
    key="dunning_rows",
    on_select=partial(open_selected, table["Customer id"].tolist()),
    selection_mode="single-row",
)
