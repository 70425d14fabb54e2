"""Emails queued, sent or written to the outbox folder."""

import streamlit as st

from console import access

access.require_page("outbox")
st.title(access.PAGES_BY_KEY["outbox"].title)
st.info("Emails queued, sent or written to the outbox folder. Coming soon.")
