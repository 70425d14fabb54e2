"""The portal-link panel of the customer page.

One request per submission: the panel keeps a nonce per customer in this
browser session's state and replaces the buttons by the result once a link is
made, so a double click or a rerun repeats the same request (same key) instead
of making a second link. "Make another link" starts a new request. A new
portal URL is kept in session state only until it has been displayed once.
When Stripe differs from what the agent saw, the request waits for Confirm or
Cancel (console/links/requests.py, the live re-check).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import streamlit as st

from console import ops
from console.links import portal
from console.links.context import (
    DELETED_CUSTOMER,
    LinkContext,
    LinkError,
    PriceChoice,
    SubscriptionChoice,
    link_context,
)
from console.links.live_customer import LiveCustomer
from console.links.requests import LinkRequest, NeedsConfirmation, create_link, request_key
from console.ops import audit
from console.staff.roles import StaffUser, can_create_links
from console.ui.widgets import notice
from settings import Settings

REPEAT_EMAIL_WINDOW = timedelta(hours=24)
HISTORY_COLUMNS = [
    "at",
    "agent",
    "flow",
    "subscription_id",
    "delivery",
    "outcome",
    "stripe_session_id",
    "error",
]


def _keys(customer_id: str) -> dict[str, str]:
    prefix = f"portal_link_{customer_id}"
    return {
        name: f"{prefix}_{name}"
        for name in ("nonce", "done", "url", "error", "flow", "copy", "email", "confirm")
    }


def render_portal_panel(
    settings: Settings, staff: StaffUser, customer_id: str, live: LiveCustomer | None = None
) -> None:
    """Flow choice, delivery buttons, the result, and this customer's audit rows.

    With `live` (the page's live look), the hint, default flow and shown email follow Stripe now."""
    keys = _keys(customer_id)
    st.subheader("Portal link", anchor=False)
    if not can_create_links(staff.role):
        st.caption(f"Your role ({staff.role}) cannot create portal links.")
    elif keys["done"] in st.session_state:
        _render_result(keys)
    elif keys["confirm"] in st.session_state:
        _render_confirmation(settings, staff, keys)
    else:
        _render_form(settings, staff, customer_id, keys, live)
    _render_history(settings, customer_id)


def _render_result(keys: dict[str, str]) -> None:
    notice("success", st.session_state[keys["done"]])
    url = st.session_state.pop(keys["url"], None)
    if url:
        st.caption("Shown once, to you only: copy it now. It is not stored anywhere.")
        st.code(url, language=None, wrap_lines=True)
    if st.button("Make another link", key=f"{keys['done']}_again", icon=":material/add_link:"):
        del st.session_state[keys["done"]]
        st.session_state[keys["nonce"]] = secrets.token_hex(16)
        st.rerun()


def _render_confirmation(settings: Settings, staff: StaffUser, keys: dict[str, str]) -> None:
    """The differences Stripe showed at the re-check; Confirm sends the request for that state."""
    request, changes = st.session_state[keys["confirm"]]
    notice("warning", "Stripe changed since the last sync:\n" + "\n".join(f"- {text}" for text in changes))
    st.caption("Confirm to make the link with what Stripe has now (its email, its unpaid invoices).")
    left, right = st.columns(2)
    if left.button("Confirm", key=f"{keys['confirm']}_yes", icon=":material/check:"):
        del st.session_state[keys["confirm"]]
        _submit(settings, staff, request, keys)
    if right.button("Cancel", key=f"{keys['confirm']}_no", icon=":material/close:"):
        del st.session_state[keys["confirm"]]
        st.rerun()


def _render_form(
    settings: Settings, staff: StaffUser, customer_id: str, keys: dict[str, str], live: LiveCustomer | None
) -> None:
    error = st.session_state.pop(keys["error"], None)
    if error:
        notice("error", error)
    try:
        context = link_context(settings.billing_db, customer_id)
    except LinkError as problem:
        notice("error", str(problem))
        return
    context = context.seen_live(live) if live else context
    if context.deleted:
        st.warning(DELETED_CUSTOMER)
        return
    flows = list(portal.FLOWS)
    flow = st.selectbox(
        "What is the link for?",
        flows,
        index=flows.index(context.default_flow),
        format_func=portal.FLOWS.__getitem__,
        key=f"{keys['flow']}_{context.default_flow}",
    )
    if context.dunning_invoice:
        st.info(
            "This customer has an invoice in dunning: the email also carries its payment page, which "
            "works even after the portal link has expired."
        )
    ready, subscription, price = _choose_target(settings, context, flow, keys)
    problem = context.recipient_problem()
    if problem:
        notice("warning", problem)
    else:
        st.caption("The email goes only to the address on the Stripe customer record:")
        st.text(context.email)
    _warn_of_recent_email(settings, customer_id)
    left, right = st.columns(2)
    copy = left.button("Copy link", key=keys["copy"], disabled=not ready, icon=":material/content_copy:")
    send = right.button(
        "Email to customer", key=keys["email"], disabled=not ready or bool(problem), icon=":material/mail:"
    )
    if copy or send:
        request = LinkRequest(
            customer_id=customer_id,
            flow=flow,
            delivery="copy" if copy else "email",
            subscription_id=subscription.id if subscription else None,
            price_id=price.id if price else None,
        )
        _submit(settings, staff, request, keys)


def _warn_of_recent_email(settings: Settings, customer_id: str) -> None:
    """Before a second email within a day: when, and by whom, the first one went."""
    now = datetime.now(UTC)
    sent = audit.last_email(ops.store_for(settings.ops_db), customer_id, now - REPEAT_EMAIL_WINDOW)
    if sent:
        at, agent = sent
        hours = max(1, round((now - at).total_seconds() / 3600))
        notice(
            "warning",
            f"{agent} already emailed this customer a portal link at {at:%Y-%m-%d %H:%M} UTC "
            f"(about {hours} hour(s) ago). Send another only if the customer asked for it.",
        )


def _choose_target(
    settings: Settings, context: LinkContext, flow: str, keys: dict[str, str]
) -> tuple[bool, SubscriptionChoice | None, PriceChoice | None]:
    """The subscription (and new price) a subscription flow acts on; whether the form can be sent."""
    if flow not in portal.SUBSCRIPTION_FLOWS:
        return True, None, None
    choices = context.subscriptions_for(flow)
    if not choices:
        st.warning("No subscription of this customer can go through this flow.")
        return False, None, None
    subscription = st.selectbox(
        "Subscription", choices, format_func=lambda s: s.label, key=f"{keys['flow']}_sub_{flow}"
    )
    price = None
    if flow == "subscription_update_confirm":
        prices = context.prices_for(subscription)
        if not prices:
            st.warning("No other price in this subscription's currency to move to.")
            return False, subscription, None
        price = st.selectbox("New price", prices, format_func=lambda p: p.label, key=f"{keys['flow']}_price")
    if flow == "subscription_cancel" and settings.portal_retention_coupon:
        st.caption("The cancel flow offers the customer the retention coupon before they confirm.")
    return True, subscription, price


def _submit(settings: Settings, staff: StaffUser, request: LinkRequest, keys: dict[str, str]) -> None:
    """Make the link once per submission (the nonce keys it), keep the result, rerun to show it."""
    nonce = st.session_state.setdefault(keys["nonce"], secrets.token_hex(16))
    try:
        result = create_link(settings, staff, request, request_key(staff, request, nonce))
    except NeedsConfirmation as differs:
        confirmed = replace(request, confirmed=differs.fingerprint)
        st.session_state[keys["confirm"]] = (confirmed, [change.text for change in differs.changes])
    except LinkError as failure:
        st.session_state[keys["error"]] = str(failure)
        st.session_state[keys["nonce"]] = secrets.token_hex(16)
    else:
        st.session_state[keys["done"]] = result.message
        if result.url:
            st.session_state[keys["url"]] = result.url
    st.rerun()


def _render_history(settings: Settings, customer_id: str) -> None:
    rows = audit.browse(ops.store_for(settings.ops_db), customer_id=customer_id)
    with st.expander(f"Portal links for this customer ({len(rows)})"):
        if rows.empty:
            st.caption("None yet.")
        else:
            st.dataframe(rows[HISTORY_COLUMNS], hide_index=True)
