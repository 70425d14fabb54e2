"""Sync runs, data freshness and counts per table."""

import streamlit as st

from console.ui import snapshot_cache
from console.ui.frame import page_frame
from console.ui.freshness import describe, utc_now
from console.warehouse import sync_runs

frame = page_frame("sync_status")
settings = frame.settings

last = snapshot_cache.read(settings, sync_runs.last_success)
st.caption("Last successful run (UTC)")
st.text(describe(last, utc_now()) if last else "None yet: run `python -m sync`.")

st.subheader("Recent runs", anchor=False)
runs = snapshot_cache.read(settings, sync_runs.recent_runs)
if runs.empty:
    st.caption("No runs recorded.")
else:
    st.dataframe(runs, hide_index=True)

st.subheader("Rows per table", anchor=False)
st.dataframe(snapshot_cache.read(settings, sync_runs.table_counts), hide_index=True)
