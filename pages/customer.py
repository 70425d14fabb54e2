"""A customer's profile, subscriptions, invoices, payment attempts and portal links."""

import streamlit as st

from console import access

access.require_page("customer")
st.title(access.PAGES_BY_KEY["customer"].title)
st.info("A customer's profile, subscriptions, invoices, payment attempts and portal links. Coming soon.")
