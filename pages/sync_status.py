"""Sync runs, data freshness and counts per table."""

import streamlit as st

from console import access

access.require_page("sync_status")
st.title(access.PAGES_BY_KEY["sync_status"].title)
st.info("Sync runs, data freshness and counts per table. Coming soon.")
