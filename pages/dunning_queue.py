"""Invoices in dunning now, sorted by amount at risk."""

import streamlit as st

from console import access

access.require_page("dunning_queue")
st.title(access.PAGES_BY_KEY["dunning_queue"].title)
st.info("Invoices in dunning now, sorted by amount at risk. Coming soon.")
