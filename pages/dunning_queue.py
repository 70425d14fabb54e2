"""Invoices in dunning now, biggest amount at risk first within each currency; a row opens the customer."""

import streamlit as st

from console import ops
from console.ops import audit
from console.rules.links import CARD_UPDATE_FLOW
from console.ui import snapshot_cache
from console.ui.frame import page_frame
from console.ui.freshness import utc_now
from console.ui.widgets import customer_table, open_customer_if_chosen
from console.warehouse import dunning_queue

frame = page_frame("dunning_queue")
open_customer_if_chosen()

queue = snapshot_cache.read(frame.settings, dunning_queue.dunning_queue)
if queue.empty:
    st.success("No invoice is in dunning: every open automatic invoice is either paid or not yet attempted.")
    st.stop()

st.caption("Open invoices charged automatically with at least one failed payment attempt.")
summary = dunning_queue.currency_summary(queue)
st.dataframe(summary, hide_index=True)

currencies = list(summary["Currency"].str.lower())
currency = st.segmented_control(
    "Currency", ["all", *currencies], default="all", format_func=lambda c: "All" if c == "all" else c.upper()
)
if currency and currency != "all":
    queue = queue[queue["currency"] == currency]

links = audit.links_made(
    ops.store_for(frame.settings.ops_db),
    flow=CARD_UPDATE_FLOW,
    customer_ids=sorted(set(queue["customer_id"])),
)
table = dunning_queue.queue_table(queue, dunning_queue.last_link_per_customer(links), utc_now())
st.caption(
    f"Sorted by amount at risk within each currency (top {dunning_queue.QUEUE_LIMIT_PER_CURRENCY} per "
    "currency). Select a row to open the customer."
)
customer_table(table, "dunning_rows")
