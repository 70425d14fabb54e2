"""Dunning outcomes per month and currency."""

import streamlit as st

from console import access

access.require_page("dunning")
st.title(access.PAGES_BY_KEY["dunning"].title)
st.info("Dunning outcomes per month and currency. Coming soon.")
