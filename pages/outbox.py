"""Emails queued, sent or written to the outbox folder (admin); retry a queued one."""

import streamlit as st

from console import ops
from console.links.context import LinkError
from console.links.requests import retry_email
from console.ops import outbox
from console.ui.frame import page_frame
from console.ui.widgets import notice

frame = page_frame("outbox", data=False)
settings = frame.settings
if settings.smtp_host:
    st.caption(
        f"Messages go out through {settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})."
    )
else:
    st.caption("No SMTP server is configured: messages are written as .eml files to this folder:")
    st.text(str(settings.outbox_dir))

shown = st.session_state.pop("outbox_notice", None)
if shown:
    notice(*shown)

store = ops.store_for(settings.ops_db)
status = st.selectbox("Status", ["All", *outbox.STATUSES])
rows = outbox.messages(store, None if status == "All" else status)
queued = outbox.messages(store, "queued")
st.dataframe(rows, hide_index=True)


def retry(outbox_id: int, accept_duplicate: bool = False) -> None:
    try:
        delivery = retry_email(settings, frame.staff, outbox_id, accept_duplicate)
    except LinkError as problem:
        st.session_state["outbox_notice"] = ("error", str(problem))
    else:
        if delivery.delivered:
            st.session_state["outbox_notice"] = ("success", f"Message {outbox_id} is {delivery.status}.")
        else:
            st.session_state["outbox_notice"] = (
                "error",
                f"Message {outbox_id} is {delivery.status}: {delivery.error}",
            )
    st.rerun()


def recipient_of(messages, outbox_id: int) -> str:
    return f"#{outbox_id} to {messages.set_index('id').at[outbox_id, 'recipient']}"


if not queued.empty:
    st.subheader("Retry a queued message", anchor=False)
    choice = st.selectbox("Message", queued["id"].tolist(), format_func=lambda i: recipient_of(queued, i))
    if st.button("Retry sending", icon=":material/send:"):
        retry(int(choice))

doubtful = outbox.messages(store, outbox.DOUBTFUL)
if not doubtful.empty:
    st.subheader("Messages that may have been delivered", anchor=False)
    st.warning(
        "The mail server may have received these (its answer was lost, or the sending process "
        "stopped mid-send). Check the mail server's log first: sending again may give the customer "
        "a second copy of the same email."
    )
    choice = st.selectbox(
        "Message", doubtful["id"].tolist(), format_func=lambda i: recipient_of(doubtful, i), key="doubtful"
    )
    accepted = st.checkbox("I checked the mail server's log; send it again even if this makes a duplicate")
    if st.button("Send again", icon=":material/warning:", disabled=not accepted):
        retry(int(choice), accept_duplicate=True)
