"""Home: what this console holds for the signed-in role."""

import streamlit as st

from console.staff.roles import pages_for
from console.ui.frame import page_frame

frame = page_frame("home", data=False)
st.text(f"Welcome, {frame.staff.name}. Your role: {frame.staff.role}.")
for page in pages_for(frame.staff.role):
    if page.key != "home" and not page.hidden:
        st.page_link(str(page.path), label=page.title, icon=page.icon)
