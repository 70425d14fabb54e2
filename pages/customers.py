"""Search customers by email, name, Stripe id or invoice number."""

import streamlit as st

from console import access

access.require_page("customers")
st.title(access.PAGES_BY_KEY["customers"].title)
st.info("Search customers by email, name, Stripe id or invoice number. Coming soon.")
