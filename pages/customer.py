"""A customer's profile, subscriptions, invoices, payment attempts and portal links."""

import streamlit as st

from console.display.text import printable, utc_text
from console.staff.roles import PAGES_BY_KEY
from console.ui import snapshot_cache
from console.ui.frame import page_frame
from console.ui.freshness import utc_now
from console.ui.live_look import render_live_look
from console.ui.portal_panel import render_portal_panel
from console.ui.widgets import notice
from console.ui.work_state import render_work_state_form
from console.warehouse import customers, payment_methods

frame = page_frame("customer")
settings = frame.settings
search_page = PAGES_BY_KEY["customers"].path

customer_id = st.query_params.get("id", "").strip()
if not customer_id:
    st.info("Choose a customer on the Customers page, or add `?id=cus_...` to this page's address.")
    st.page_link(search_page, label="Search customers", icon=":material/search:")
    st.stop()
if not customers.CUSTOMER_ID.match(customer_id):
    st.error("This is not a Stripe customer id (they look like cus_ followed by letters and digits):")
    st.code(customer_id, language=None)
    st.page_link(search_page, label="Search customers", icon=":material/search:")
    st.stop()

profile = snapshot_cache.read(settings, customers.customer_profile, customer_id)
now = utc_now().replace(second=0, microsecond=0)  # per minute: cached reads stay cached
if profile is None:
    st.warning(
        "No customer with this id in the warehouse. Check the id; a customer created since the last "
        "sync appears after the next one."
    )
    st.code(customer_id, language=None)
    st.page_link(search_page, label="Search customers", icon=":material/search:")
    st.stop()
profile = profile.with_key_mode(settings.portal_api_key)

if profile.deleted:
    st.warning(
        "This customer was deleted in Stripe. Their history is kept here, read-only.",
        icon=":material/delete:",
    )
# While a live look newer than the sync is shown, the banner, hint and default flow follow it.
live = render_live_look(settings, customer_id)
if live.delinquent if live else profile.delinquent:
    st.error("Delinquent: Stripe marks this customer's latest payment as failed.", icon=":material/warning:")

# Untrusted values go through st.text, never Markdown.
left, right = st.columns(2)
with left:
    st.caption("Name")
    st.text(printable(profile.name) or "—")
    st.caption("Email")
    st.text(printable(profile.email) or "—")
    st.caption("Customer id")
    st.code(profile.id, language=None)
with right:
    st.caption("Created (UTC)")
    st.text(utc_text(profile.created) or "—")
    st.caption("Currency")
    st.text((profile.currency or "not set").upper())
    st.caption("Mode")
    st.text(f"{profile.mode_text} (from {profile.mode_source})")
    st.link_button("Open in the Stripe dashboard", profile.dashboard_url, icon=":material/open_in_new:")

st.subheader("Subscriptions", anchor=False)
subscriptions = snapshot_cache.read(settings, customers.customer_subscriptions, customer_id, now)
if subscriptions.empty:
    st.caption("No subscriptions.")
else:
    st.dataframe(subscriptions, hide_index=True)

st.subheader("Payment method", anchor=False)
methods = snapshot_cache.read(settings, payment_methods.payment_panel, customer_id, now)
for charged_for, check in zip(methods["Charged for"], methods["Check"], strict=True):
    if check in payment_methods.PROBLEMS:
        notice("warning", f"{charged_for}: the card {check}.")
st.dataframe(methods, hide_index=True)

st.subheader("Invoices", anchor=False)
invoice_rows = snapshot_cache.read(settings, customers.customer_invoices, customer_id, profile.livemode)
if invoice_rows.empty:
    st.caption("No invoices.")
else:
    st.caption(f"Newest first, at most {customers.HISTORY_LIMIT}.")
    st.dataframe(
        invoice_rows,
        hide_index=True,
        column_config={
            "Hosted invoice": st.column_config.LinkColumn(display_text="Open"),
            "Stripe dashboard": st.column_config.LinkColumn(display_text="Open in Stripe"),
        },
    )

st.subheader("Payment attempts", anchor=False)
attempts = snapshot_cache.read(settings, customers.customer_payment_attempts, customer_id, profile.livemode)
if attempts.empty:
    st.caption("No payment attempts.")
else:
    st.dataframe(
        attempts,
        hide_index=True,
        column_config={"Stripe dashboard": st.column_config.LinkColumn(display_text="Open in Stripe")},
    )

in_dunning = snapshot_cache.read(settings, customers.dunning_invoices_of, customer_id)
for n, (invoice_id, label) in enumerate(in_dunning, start=1):
    # Expander labels render Markdown: the invoice's own text goes inside, as plain text.
    with st.expander(f"Dunning work, invoice {n} of {len(in_dunning)}", expanded=True):
        st.text(label)
        render_work_state_form(settings, frame.staff, invoice_id, customer_id)

st.divider()
# The panel checks the role itself (finance sees the history only).
render_portal_panel(settings, frame.staff, customer_id, live=live)
