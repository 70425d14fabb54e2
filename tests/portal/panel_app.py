"""Only the portal panel, for AppTest: the customer page and the dunning queue make the same call."""

import streamlit as st

from console.ui.frame import current_staff
from console.ui.portal_panel import render_portal_panel
from settings import load_settings

render_portal_panel(load_settings(), current_staff(), st.session_state["customer_id"])
