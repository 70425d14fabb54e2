"""The Streamlit app, served by console/server.py (`streamlit run console/server.py`).

Sign-in gate first; then a navigation built from the pages the user's role may
open (console/staff/roles.py). Each page checks the role again on its own.
"""

import logging
import sys
from pathlib import Path

# Streamlit puts console/ on sys.path, not the repository root.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from console.ops.store import OpsStoreUnavailable  # noqa: E402
from console.staff.accounts import StaffError  # noqa: E402
from console.staff.cookie_key import check_cookie_key  # noqa: E402
from console.staff.roles import pages_for  # noqa: E402
from console.ui.sign_in import SignInGate  # noqa: E402
from settings import SettingsError, load_settings  # noqa: E402

log = logging.getLogger("console")

st.set_page_config(page_title="Billing console", page_icon=":material/payments:", layout="wide")

try:
    settings = load_settings()
    check_cookie_key(settings.cookie_key)
except SettingsError as problem:
    st.error(f"The console cannot start. {problem}")
    st.stop()

try:
    gate = SignInGate(settings)
    staff = gate.signed_in_staff()
except StaffError as problem:
    # The details (a file path) are for the admin's log, not for whoever opened the page.
    log.error("the console cannot start: %s", problem)
    st.error(
        "The console cannot start: the staff users file is unusable. An admin must fix it (see the log)."
    )
    st.stop()
except OpsStoreUnavailable as problem:
    log.error("%s", problem)
    st.error("The ops store is unavailable: nobody can sign in until an admin fixes it (see the log).")
    st.stop()
if staff is None:
    st.stop()

with st.sidebar:
    st.caption("Signed in as")
    st.text(f"{staff.name} ({staff.role})")
    if st.button("Sign out", icon=":material/logout:"):
        gate.sign_out(staff)
        st.rerun()

navigation = st.navigation(
    [
        st.Page(
            page.path,
            title=page.title,
            icon=page.icon,
            url_path=page.key,
            default=page.key == "home",
            visibility="hidden" if page.hidden else "visible",
        )
        for page in pages_for(staff.role)
    ]
)
try:
    navigation.run()
except OpsStoreUnavailable as problem:
    # Nothing was half-written: every ops-store write is one transaction.
    log.error("%s", problem)
    st.error(
        "The ops store is unavailable: this page cannot record or show the console's own data. "
        "An admin must fix it (see the log)."
    )
