"""Invoices in dunning now as a work queue: biggest amount at risk first within each currency,
each with its work state; a row opens the customer; resolved items move to the history."""

from datetime import timedelta

import streamlit as st

from console import ops
from console.ops import audit, work_state
from console.rules.links import CARD_UPDATE_FLOW
from console.rules.work import FILTER_TEXT, FILTERS
from console.ui import snapshot_cache
from console.ui.frame import page_frame
from console.ui.freshness import utc_now
from console.ui.widgets import (
    customer_table,
    from_url,
    keep_in_url,
    open_customer_if_chosen,
    restore_url_state,
)
from console.ui.work_state import render_work_state_form
from console.warehouse import dunning_queue

frame = page_frame("dunning_queue")
open_customer_if_chosen()
restore_url_state("dunning_queue", ["view", "work", "currency"])
store = ops.store_for(frame.settings.ops_db)
now = utc_now()

queue = snapshot_cache.read(frame.settings, dunning_queue.dunning_queue)
summary = dunning_queue.currency_summary(queue)
currencies = list(summary["Currency"].str.lower())

views = {"queue": "Queue", "history": "History"}
view_col, work_col, currency_col = st.columns([1, 2, 3])
view = view_col.segmented_control(
    "View", list(views), default=from_url("view", "queue", list(views)), format_func=views.get, key="dq_view"
)
work_filter = work_col.segmented_control(
    "Work",
    FILTERS,
    default=from_url("work", "all", FILTERS),
    format_func=FILTER_TEXT.get,
    key="dq_work",
    disabled=view == "history",
)
currency = currency_col.segmented_control(
    "Currency",
    ["all", *currencies],
    default=from_url("currency", "all", ["all", *currencies]),
    format_func=lambda c: "All" if c == "all" else c.upper(),
    key="dq_currency",
)
view, work_filter, currency = view or "queue", work_filter or "all", currency or "all"
keep_in_url(
    "dunning_queue",
    view=None if view == "queue" else view,
    work=None if work_filter == "all" else work_filter,
    currency=None if currency == "all" else currency,
)

if view == "history":
    since = now - timedelta(days=dunning_queue.HISTORY_DAYS)
    resolved = snapshot_cache.read(frame.settings, dunning_queue.resolved_dunning, since)
    if currency != "all":
        resolved = resolved[resolved["currency"] == currency]
    if resolved.empty:
        st.info(f"No invoice left dunning in the last {dunning_queue.HISTORY_DAYS} days.")
        st.stop()
    links = audit.links_made(store, flow=CARD_UPDATE_FLOW, customer_ids=sorted(set(resolved["customer_id"])))
    states = work_state.states(store, list(resolved["invoice_id"]))
    st.caption(
        f"Invoices that left dunning in the last {dunning_queue.HISTORY_DAYS} days: paid, voided or marked "
        "uncollectible, newest first. Select a row to open the customer."
    )
    customer_table(dunning_queue.history_table(resolved, links, states, now.date()), "dunning_history")
    st.stop()

if queue.empty:
    st.success("No invoice is in dunning: every open automatic invoice is either paid or not yet attempted.")
    st.stop()
st.caption("Open invoices charged automatically with at least one failed payment attempt.")
with st.expander("Totals per currency"):
    st.dataframe(summary, hide_index=True)
if currency != "all":
    queue = queue[queue["currency"] == currency]

links = audit.links_made(store, flow=CARD_UPDATE_FLOW, customer_ids=sorted(set(queue["customer_id"])))
states = work_state.states(store, list(queue["invoice_id"]))
table = dunning_queue.queue_table(queue, dunning_queue.last_link_per_customer(links), now, states)
table = dunning_queue.filter_by_work(table, states, work_filter, frame.staff.username, now.date())
st.caption(
    f"{len(table)} invoice(s). Sorted by amount at risk within each currency (top "
    f"{dunning_queue.QUEUE_LIMIT_PER_CURRENCY} per currency). Select a row to open the customer; "
    "change an item's work state below."
)
if table.empty:
    st.info(f"Nothing in “{FILTER_TEXT[work_filter]}”. Choose All to see every invoice in dunning.")
    st.stop()
customer_table(
    table,
    "dunning_rows",
    column_order=dunning_queue.VISIBLE_COLUMNS,
    column_config={
        # 1440x900 with the sidebar leaves about 950 pixels: these widths fit it, no sideways scroll.
        "Customer": st.column_config.TextColumn(width=170),
        "At risk": st.column_config.TextColumn(width=90),
        "Days in dunning": st.column_config.NumberColumn("Days", width=50, help="Days in dunning"),
        "Next retry": st.column_config.TextColumn(width=160),
        "Last decline": st.column_config.TextColumn(width=140),
        "Card expiry": st.column_config.TextColumn(width=150),
        "Work state": st.column_config.TextColumn(width=150),
    },
)

with st.expander("Work on an invoice", expanded=False):
    labels = dict(zip(table["Invoice id"], table["Invoice"] + " · " + table["Customer"], strict=True))
    chosen = st.selectbox("Invoice", list(labels), format_func=labels.get, key="dq_work_invoice")
    row = table[table["Invoice id"] == chosen].iloc[0]
    st.dataframe(row.astype(str).to_frame("Detail"))
    render_work_state_form(frame.settings, frame.staff, chosen, row["Customer id"])
