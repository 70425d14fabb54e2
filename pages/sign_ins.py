"""Failed sign-ins of the last day per user and address, and unlocking them (admin)."""

from datetime import UTC, datetime, timedelta

import streamlit as st

from console import ops
from console.ops import login_throttle
from console.ui.frame import page_frame

frame = page_frame("sign_ins", data=False)
store = ops.store_for(frame.settings.ops_db)
st.caption(
    "A user is locked out from one address after repeated failures from it; from other addresses their "
    "sign-ins are slowed down, never locked. Clearing forgets the failures."
)
notice = st.session_state.pop("sign_ins_notice", None)
if notice:
    st.success(notice)

failures = login_throttle.recent_failures(store, datetime.now(UTC) - timedelta(days=1))
if failures.empty:
    st.info("No failed sign-in in the last 24 hours.")
    st.stop()
st.dataframe(failures, hide_index=True)
username = st.selectbox("Clear the failures of", sorted(set(failures["username"])))
if st.button("Unlock", icon=":material/lock_open:"):
    cleared = login_throttle.clear_failures(store, username=username)
    st.session_state["sign_ins_notice"] = f"Cleared {cleared} failed sign-in(s)."
    st.rerun()
