"""The portal-link panel shown on the customer page and in the dunning queue.

One request per submission: the panel keeps a nonce per customer in this
browser session's state and replaces the buttons by the result once a link is
made, so a double click or a rerun repeats the same request (same key) instead
of making a second link. "Make another link" starts a new request. A new
portal URL is kept in session state only until it has been displayed once.
"""

from __future__ import annotations

import re
import secrets

import streamlit as st

from console import audit, ops, portal, portal_links
from console.access import StaffUser, can_create_links
from console.portal_links import LinkError, LinkRequest
from settings import Settings

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


def markdown_literal(text: str) -> str:
    """Text that Streamlit's Markdown shows literally: no links, images, emphasis or math."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~:$&])", r"\\\1", text)


def _keys(customer_id: str) -> dict[str, str]:
    prefix = f"portal_link_{customer_id}"
    return {name: f"{prefix}_{name}" for name in ("nonce", "done", "url", "error", "flow", "copy", "email")}


def render_portal_panel(settings: Settings, staff: StaffUser, customer_id: str) -> None:
    """Flow choice, delivery buttons, the result, and this customer's audit rows."""
    keys = _keys(customer_id)
    st.subheader("Portal link", anchor=False)
    if not can_create_links(staff.role):
        st.caption(f"Your role ({staff.role}) cannot create portal links.")
    elif keys["done"] in st.session_state:
        _render_result(keys)
    else:
        _render_form(settings, staff, customer_id, keys)
    _render_history(settings, customer_id)


def _render_result(keys: dict[str, str]) -> None:
    st.success(markdown_literal(st.session_state[keys["done"]]))
    url = st.session_state.pop(keys["url"], None)
    if url:
        st.caption("Shown once, to you only: copy it now. It is not stored anywhere.")
        st.code(url, language=None, wrap_lines=True)
    if st.button("Make another link", key=f"{keys['done']}_again", icon=":material/add_link:"):
        del st.session_state[keys["done"]]
        st.session_state[keys["nonce"]] = secrets.token_hex(16)
        st.rerun()


def _render_form(settings: Settings, staff: StaffUser, customer_id: str, keys: dict[str, str]) -> None:
    error = st.session_state.pop(keys["error"], None)
    if error:
        st.error(markdown_literal(error))
    try:
        context = portal_links.link_context(settings.billing_db, customer_id)
    except LinkError as problem:
        st.error(markdown_literal(str(problem)))
        return
    if context.deleted:
        st.warning("This customer is deleted in Stripe: no portal link can be made.")
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
    subscription = price = None
    ready = True
    if flow in portal.SUBSCRIPTION_FLOWS:
        choices = context.subscriptions_for(flow)
        if not choices:
            st.warning("No subscription of this customer can go through this flow.")
            ready = False
        else:
            subscription = st.selectbox(
                "Subscription", choices, format_func=lambda s: s.label, key=f"{keys['flow']}_sub_{flow}"
            )
        if flow == "subscription_update_confirm" and subscription:
            prices = context.prices_for(subscription)
            if not prices:
                st.warning("No other price in this subscription's currency to move to.")
                ready = False
            else:
                price = st.selectbox(
                    "New price", prices, format_func=lambda p: p.label, key=f"{keys['flow']}_price"
                )
        if flow == "subscription_cancel" and settings.portal_retention_coupon:
            st.caption("The cancel flow offers the customer the retention coupon before they confirm.")
    problem = context.recipient_problem()
    if problem:
        st.warning(markdown_literal(problem))
    else:
        st.caption("The email goes only to the address on the Stripe customer record:")
        st.text(context.email)
    left, right = st.columns(2)
    copy = left.button("Copy link", key=keys["copy"], disabled=not ready, icon=":material/content_copy:")
    send = right.button(
        "Email to customer", key=keys["email"], disabled=not ready or bool(problem), icon=":material/mail:"
    )
    if not (copy or send):
        return
    request = LinkRequest(
        customer_id=customer_id,
        flow=flow,
        delivery="copy" if copy else "email",
        subscription_id=subscription.id if subscription else None,
        price_id=price.id if price else None,
    )
    nonce = st.session_state.setdefault(keys["nonce"], secrets.token_hex(16))
    try:
        result = portal_links.create_link(
            settings, staff, request, portal_links.request_key(staff, request, nonce)
        )
    except LinkError as failure:
        st.session_state[keys["error"]] = str(failure)
        st.session_state[keys["nonce"]] = secrets.token_hex(16)
    else:
        st.session_state[keys["done"]] = result.message
        if result.url:
            st.session_state[keys["url"]] = result.url
    st.rerun()


def _render_history(settings: Settings, customer_id: str) -> None:
    conn = ops.connect(settings.ops_db)
    try:
        rows = audit.links_for_customer(conn, customer_id)
    finally:
        conn.close()
    with st.expander(f"Portal links for this customer ({len(rows)})"):
        if rows.empty:
            st.caption("None yet.")
        else:
            st.dataframe(rows[HISTORY_COLUMNS], hide_index=True)
