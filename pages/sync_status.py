"""Sync runs, data freshness and counts per table."""

import streamlit as st

from console import access, freshness, snapshots, sync_status
from settings import load_settings

staff = access.require_page("sync_status")
settings = load_settings()
st.title(access.PAGES_BY_KEY["sync_status"].title)
freshness.render_freshness(settings)

last = snapshots.read(settings, sync_status.last_success)
st.caption("Last successful run (UTC)")
st.text(freshness.describe(last, freshness.utc_now()) if last else "None yet: run `python -m sync`.")

st.subheader("Recent runs", anchor=False)
runs = snapshots.read(settings, sync_status.recent_runs)
if runs.empty:
    st.caption("No runs recorded.")
else:
    st.dataframe(runs, hide_index=True)

st.subheader("Rows per table", anchor=False)
st.dataframe(snapshots.read(settings, sync_status.table_counts), hide_index=True)
