"""The audit log of portal links: browse, filter, export (admin)."""

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from console import ops
from console.ops import audit
from console.ui.frame import page_frame
from console.ui.widgets import csv_download

frame = page_frame("audit", data=False)
store = ops.store_for(frame.settings.ops_db)
st.caption(
    "Every portal link made, refused or failed. Rows are never changed or deleted; links are not stored."
)

left, middle, right = st.columns(3)
agent = left.selectbox("Agent", ["All", *audit.agents(store)])
outcome = middle.selectbox("Outcome", ["All", *audit.OUTCOMES])
customer_id = right.text_input("Customer id", placeholder="cus_...").strip()
today = datetime.now(UTC).date()
days = st.date_input("Dates (UTC)", (today - timedelta(days=30), today), max_value=today)
since = until = None
if isinstance(days, tuple) and len(days) == 2:
    since = datetime.combine(days[0], time.min, UTC)
    until = datetime.combine(days[1] + timedelta(days=1), time.min, UTC)
rows = audit.browse(
    store,
    agent=None if agent == "All" else agent,
    outcome=None if outcome == "All" else outcome,
    customer_id=customer_id or None,
    since=since,
    until=until,
)

st.text(f"{len(rows)} rows")
st.dataframe(rows, hide_index=True)
csv_download(rows, "Export CSV", "portal-link-audit.csv")
