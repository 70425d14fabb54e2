"""The audit log of portal links."""

import streamlit as st

from console import access

access.require_page("audit")
st.title(access.PAGES_BY_KEY["audit"].title)
st.info("The audit log of portal links. Coming soon.")
