"""Home: what this console holds for the signed-in role."""

import streamlit as st

from console import access

staff = access.require_page("home")

st.title("Billing console")
st.text(f"Welcome, {staff.name}. Your role: {staff.role}.")
for page in access.pages_for(staff.role):
    if page.key != "home" and not page.hidden:
        st.page_link(str(page.path), label=page.title, icon=page.icon)
