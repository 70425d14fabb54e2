"""The customer page's live look at Stripe: the "Refresh from Stripe" button, the look the
page takes by itself when the last sync is old, and what changed since the sync.

The look is kept in this browser session per customer and shown while it is newer than the
last sync; the page's Delinquent banner, dunning hint and default portal flow then follow it.
When Stripe cannot be read the synced view stays, under one line naming the cause.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from console.display.money import format_money
from console.display.text import printable, utc_text
from console.links.live_changes import LIVE_LOOKS, Change, changes_since_sync
from console.links.live_customer import LiveCustomer, LiveUnavailable, fetch_live_customer
from console.ui import snapshot_cache
from console.ui.widgets import notice
from console.warehouse import sync_runs
from console.warehouse.customers import safe_link
from console.warehouse.synced_customer import synced_customer
from settings import Settings

BUTTON = "Refresh from Stripe"


def render_live_look(settings: Settings, customer_id: str) -> LiveCustomer | None:
    """The button and, when there is one newer than the last sync, the live look (returned)."""
    key = f"live_look_{customer_id}"
    synced_at = snapshot_cache.read(settings, sync_runs.last_success)  # naive UTC, or None
    clicked = st.button(BUTTON, key=f"{key}_refresh", icon=":material/sync:")
    fetch = lambda: fetch_live_customer(settings, customer_id)  # noqa: E731
    if clicked:
        st.session_state[key] = LIVE_LOOKS.look(customer_id, fetch, force=True)
    elif key not in st.session_state and _sync_is_old(synced_at, settings.live_refresh_after_minutes):
        st.session_state[key] = LIVE_LOOKS.look(customer_id, fetch)
    look = st.session_state.get(key)
    if isinstance(look, LiveUnavailable):
        notice("warning", f"Showing the last sync: {look}")
        return None
    if not isinstance(look, LiveCustomer) or not _newer_than(look, synced_at):
        return None
    synced = snapshot_cache.read(settings, synced_customer, customer_id)
    _render(look, changes_since_sync(synced, look) if synced else ())
    return look


def _sync_is_old(synced_at: datetime | None, minutes: int) -> bool:
    now = datetime.now(UTC).replace(tzinfo=None)
    return synced_at is None or now - synced_at > timedelta(minutes=minutes)


def _newer_than(look: LiveCustomer, synced_at: datetime | None) -> bool:
    return synced_at is None or look.fetched_at.replace(tzinfo=None) > synced_at


def _render(look: LiveCustomer, changes: tuple[Change, ...]) -> None:
    with st.container(border=True):
        st.subheader(f"Live from Stripe at {look.fetched_at:%H:%M:%S} UTC", anchor=False)
        if changes:
            notice("info", "Since the last sync:\n" + "\n".join(f"- {c.text}" for c in changes))
        if look.deleted:
            return
        left, right = st.columns(2)
        with left:
            st.caption("Email")
            st.text(printable(look.email) or "—")
            st.caption("Delinquent")
            st.text("yes" if look.delinquent else "no")
        with right:
            st.caption("Default payment method")
            st.text(printable(look.default_payment_method.label) if look.default_payment_method else "none")
        marks = {c.subject: c.mark for c in changes if c.kind != "email"}
        if look.subscriptions:
            st.dataframe(_subscriptions(look, marks), hide_index=True)
        invoices = _invoices(look, marks)
        if not invoices.empty:
            st.dataframe(
                invoices,
                hide_index=True,
                column_config={"Hosted invoice": st.column_config.LinkColumn(display_text="Open")},
            )


def _subscriptions(look: LiveCustomer, marks: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [(s.id, s.status, s.cancel_at_period_end, utc_text(s.current_period_end), marks.get(s.id, ""))
         for s in look.subscriptions],
        columns=["Subscription id", "Status", "Cancel at period end", "Current period end (UTC)", "Changed"],
    )  # fmt: skip


def _invoices(look: LiveCustomer, marks: dict[str, str]) -> pd.DataFrame:
    """Open invoices, then the newest ones, each once; plus those that closed since the sync."""
    shown = {i.id: i for i in (*look.open_invoices, *look.recent_invoices)}
    return pd.DataFrame(
        [(printable(i.number), i.id, i.status, format_money(i.amount_remaining, i.currency), i.attempt_count,
          "yes" if i.in_dunning else "", marks.get(i.id, ""), safe_link(i.hosted_invoice_url))
         for i in shown.values()],
        columns=["Number", "Invoice id", "Status", "Remaining", "Attempts", "In dunning", "Changed",
                 "Hosted invoice"],
    )  # fmt: skip
