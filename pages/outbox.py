"""Emails queued, sent or written to the outbox folder (admin); retry a queued one."""

import streamlit as st

from console import access, ops, outbox, portal_links
from console.portal_panel import markdown_literal
from settings import load_settings

staff = access.require_page("outbox")
settings = load_settings()
st.title(access.PAGES_BY_KEY["outbox"].title)
if settings.smtp_host:
    st.caption(
        f"Messages go out through {settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})."
    )
else:
    st.caption("No SMTP server is configured: messages are written as .eml files to this folder:")
    st.text(str(settings.outbox_dir))

notice = st.session_state.pop("outbox_notice", None)
if notice:
    getattr(st, notice[0])(markdown_literal(notice[1]))

status = st.selectbox("Status", ["All", *outbox.STATUSES])
conn = ops.connect(settings.ops_db)
try:
    rows = outbox.messages(conn, None if status == "All" else status)
    queued = outbox.messages(conn, "queued")
finally:
    conn.close()
st.dataframe(rows, hide_index=True)
if (rows["status"] == "sending").any():
    st.warning(
        "A message in 'sending' was being sent when its process stopped: it may have gone out, so it is "
        "never retried automatically. Check the mail server's log before making a new link."
    )

if not queued.empty:
    st.subheader("Retry a queued message", anchor=False)
    choice = st.selectbox(
        "Message",
        queued["id"].tolist(),
        format_func=lambda i: f"#{i} to {queued.set_index('id').at[i, 'recipient']}",
    )
    if st.button("Retry sending", icon=":material/send:"):
        try:
            delivery = portal_links.retry_email(settings, staff, int(choice))
        except portal_links.LinkError as problem:
            st.session_state["outbox_notice"] = ("error", str(problem))
        else:
            if delivery.delivered:
                st.session_state["outbox_notice"] = ("success", f"Message {choice} is {delivery.status}.")
            else:
                st.session_state["outbox_notice"] = (
                    "error",
                    f"Message {choice} is still queued: {delivery.error}",
                )
        st.rerun()
