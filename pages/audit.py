"""The audit log of portal links: browse, filter, export (admin)."""

from datetime import UTC, datetime, time, timedelta

import streamlit as st

from console import access, audit, ops
from settings import load_settings

access.require_page("audit")
settings = load_settings()
st.title(access.PAGES_BY_KEY["audit"].title)
st.caption(
    "Every portal link made, refused or failed. Rows are never changed or deleted; links are not stored."
)

conn = ops.connect(settings.ops_db)
try:
    left, middle, right = st.columns(3)
    agent = left.selectbox("Agent", ["All", *audit.agents(conn)])
    outcome = middle.selectbox("Outcome", ["All", *audit.OUTCOMES])
    customer_id = right.text_input("Customer id", placeholder="cus_...").strip()
    today = datetime.now(UTC).date()
    days = st.date_input("Dates (UTC)", (today - timedelta(days=30), today), max_value=today)
    since = until = None
    if isinstance(days, tuple) and len(days) == 2:
        since = datetime.combine(days[0], time.min, UTC)
        until = datetime.combine(days[1] + timedelta(days=1), time.min, UTC)
    rows = audit.browse(
        conn,
        agent=None if agent == "All" else agent,
        outcome=None if outcome == "All" else outcome,
        customer_id=customer_id or None,
        since=since,
        until=until,
    )
finally:
    conn.close()

st.text(f"{len(rows)} rows")
st.dataframe(rows, hide_index=True)
st.download_button(
    "Export CSV",
    audit.to_csv(rows),
    file_name="portal-link-audit.csv",
    mime="text/csv",
    icon=":material/download:",
)
