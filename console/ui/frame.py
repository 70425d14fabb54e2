"""The frame of every page: who may open it, the settings, the title and how fresh the
data is, in one call, so that pages stop repeating these."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from console.staff.roles import PAGES_BY_KEY, StaffUser, can_open
from console.ui.freshness import render_freshness
from settings import Settings, SettingsError, load_settings


@dataclass(frozen=True)
class PageFrame:
    staff: StaffUser
    settings: Settings


def current_staff() -> StaffUser | None:
    """The signed-in staff user of this browser session, set by console/app.py."""
    staff = st.session_state.get("staff")
    return staff if isinstance(staff, StaffUser) else None


def require_page(page_key: str) -> StaffUser:
    """Stop the page with a refusal unless the signed-in user's role may open it."""
    staff = current_staff()
    if staff is None:
        st.error("Please sign in to use the billing console.")
        st.stop()
    if not can_open(staff.role, page_key):
        st.error(
            f"Your role ({staff.role}) does not give access to "
            f"{PAGES_BY_KEY[page_key].title}. Ask an admin if you need it."
        )
        st.stop()
    return staff


def page_frame(page_key: str, *, data: bool = True) -> PageFrame:
    """Check the role, load the settings, show the title and (for data pages) the freshness banner."""
    staff = require_page(page_key)
    try:
        settings = load_settings()
    except SettingsError as problem:
        st.error(f"The console is misconfigured. {problem}")
        st.stop()
    st.title(PAGES_BY_KEY[page_key].title)
    if data:
        render_freshness(settings)
    return PageFrame(staff, settings)
