"""Logo and MRR churn per month and currency."""

import streamlit as st

from console import access

access.require_page("churn")
st.title(access.PAGES_BY_KEY["churn"].title)
st.info("Logo and MRR churn per month and currency. Coming soon.")
