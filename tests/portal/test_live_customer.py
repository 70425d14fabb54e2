"""The live look at one customer (issue 13): "Refresh from Stripe" on the customer page, the page's
own look when the sync is old, and the live re-check before a portal link. Real `stripe` package
over HTTP against a sandbox of our own: these tests change the account (payments on the hosted
page, new emails, cancellations, deletions), so each serves a fresh copy of it."""

from __future__ import annotations

from dataclasses import replace
from email import message_from_bytes, policy

import duckdb
import pytest

from console import ops
from console.links.context import LinkError
from console.links.requests import LinkRequest, NeedsConfirmation, create_link, request_key
from console.ops import audit
from console.staff.roles import StaffUser
from settings import Settings
from tests.conftest import free_port, notices
from tests.portal.conftest import (
    PORTAL_KEY,
    PORTAL_ONLY_KEY,
    dunning_customer,
    dunning_invoice,
    pay_on_hosted_page,
    warehouse_rows,
)

SAM = StaffUser("sam", "Sam Tester", "support")
REFRESH = "Refresh from Stripe"


def customer_page(app_as, customer_id: str):
    at = app_as("support").run()
    at.query_params["id"] = customer_id
    at.switch_page("../pages/customer.py")
    return at.run()


def click_refresh(at):
    return next(b for b in at.button if b.label == REFRESH).click().run()


def delinquent_banner(at) -> bool:
    return any("Delinquent" in e.value for e in at.error)


def live_heading(at) -> bool:
    return any(h.value.startswith("Live from Stripe at ") for h in at.subheader)


def attempt(settings: Settings, request: LinkRequest, nonce: str = "n1"):
    return create_link(settings, SAM, request, request_key(SAM, request, nonce))


# --- the customer page ----------------------------------------------------------------------


def test_refresh_shows_a_payment_since_the_sync_and_the_page_follows_it(live, app_as):
    customer_id = dunning_customer(live.settings)
    invoice_id, number, _ = dunning_invoice(live.settings, customer_id)
    at = customer_page(app_as, customer_id)
    assert delinquent_banner(at) and not live_heading(at)
    flow = at.selectbox(key=f"portal_link_{customer_id}_flow_payment_method_update")
    assert flow.value == "payment_method_update"  # in dunning, as the warehouse says

    pay_on_hosted_page(live.sandbox, invoice_id)
    at = click_refresh(at)
    assert not at.exception
    assert live_heading(at)
    [since] = notices(at, "info")
    assert f"Invoice {number} paid since the last sync." in since
    assert not delinquent_banner(at)  # Stripe set customer.delinquent false with the payment
    assert at.selectbox(key=f"portal_link_{customer_id}_flow_portal").value == "portal"
    assert not any("invoice in dunning" in i.value for i in at.info)
    marked = next(d.value for d in at.dataframe if "Changed" in d.value and "Invoice id" in d.value)
    assert marked.set_index("Invoice id").loc[invoice_id, "Changed"] == "paid since the last sync"
    # Live facts stay out of the warehouse.
    assert warehouse_rows(live.settings, "SELECT status FROM invoices WHERE id = ?", invoice_id) == [
        ("open",)
    ]


@pytest.mark.parametrize("cause", ["down", "rate limited", "missing permission"])
def test_refresh_when_stripe_cannot_answer_keeps_the_synced_view_with_one_line(
    live, app_as, settings_with, cause
):
    customer_id = dunning_customer(live.settings)
    if cause == "down":
        settings_with(STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    elif cause == "rate limited":
        live.sandbox.set_faults(rate_limit=0.001)  # every request answered 429
    else:
        settings_with(STRIPE_PORTAL_API_KEY=PORTAL_ONLY_KEY)  # the older key: portal sessions only
    at = click_refresh(customer_page(app_as, customer_id))
    live.sandbox.set_faults(rate_limit=0)
    assert not at.exception
    assert not live_heading(at) and delinquent_banner(at)  # the synced view stays
    # One line about Stripe (the page may warn of other things too, e.g. an expired card).
    [line] = [text for text in notices(at, "warning") if text.startswith("Showing the last sync")]
    expected = {
        "down": "could not be reached",
        "rate limited": "rate limiting",
        "missing permission": "lacks a permission (rak_customer_read)",
    }[cause]
    assert line.startswith("Showing the last sync: ") and expected in line and "\n" not in line
    assert PORTAL_KEY not in line and PORTAL_ONLY_KEY not in line and "Traceback" not in line


def test_the_page_looks_by_itself_when_the_sync_is_old_once_a_minute_per_customer(
    live, app_as, settings_with
):
    settings_with(LIVE_REFRESH_AFTER_MINUTES="5")
    conn = duckdb.connect(str(live.settings.billing_db))
    conn.execute(
        "UPDATE sync_runs SET finished_at = finished_at - INTERVAL 10 MINUTE,"
        " started_at = started_at - INTERVAL 10 MINUTE"
    )
    conn.close()
    customer_id = dunning_customer(live.settings)
    start = len(live.sandbox.requests)
    first = customer_page(app_as, customer_id)
    second = customer_page(app_as, customer_id)  # another agent, within the minute
    assert live_heading(first) and live_heading(second)
    looks = [r for r in live.sandbox.requests.snapshot()[start:] if r.path == f"/v1/customers/{customer_id}"]
    assert len(looks) == 1


# --- the re-check before a link -------------------------------------------------------------


def test_an_email_after_a_payment_in_stripe_names_no_paid_invoice(live, settings_with, smtp):
    settings = settings_with(**smtp.env())
    customer_id = dunning_customer(settings)
    invoice_id, number, _ = dunning_invoice(settings, customer_id)
    pay_on_hosted_page(live.sandbox, invoice_id)
    request = LinkRequest(customer_id, "payment_method_update", "email")
    with pytest.raises(NeedsConfirmation) as differs:
        attempt(settings, request)
    assert [c.kind for c in differs.value.changes] == ["paid"]
    assert smtp.received == []  # nothing is sent before the agent confirms
    result = attempt(settings, replace(request, confirmed=differs.value.fingerprint))
    assert result.outcome == "emailed"
    [received] = smtp.received
    body = received.data.decode()
    assert number not in body and invoice_id not in body and "/i/" not in body


def test_the_recheck_shows_the_differences_and_the_panel_needs_a_confirmation(
    live, app_as, settings_with, smtp
):
    settings = settings_with(**smtp.env())
    customer_id, subscription_id = warehouse_rows(
        settings,
        "SELECT s.customer_id, s.id FROM subscriptions s JOIN customers c ON c.id = s.customer_id"
        " WHERE s.status = 'active' AND NOT c.deleted AND c.email IS NOT NULL ORDER BY 1 LIMIT 1",
    )[0]
    assert live.sandbox.change_customer(customer_id, "email", "moved@example.net")
    assert live.sandbox.change_customer(customer_id, "cancel", subscription_id)
    at = customer_page(app_as, customer_id)
    at = at.button(key=f"portal_link_{customer_id}_email").click().run()
    [shown] = notices(at, "warning")
    assert "New email: moved@example.net" in shown and f"Subscription {subscription_id} canceled" in shown
    assert smtp.received == [] and audit.browse(ops.store_for(settings.ops_db)).empty

    at = at.button(key=f"portal_link_{customer_id}_confirm_no").click().run()  # Cancel: back to the form
    assert smtp.received == [] and at.button(key=f"portal_link_{customer_id}_email")
    at = at.button(key=f"portal_link_{customer_id}_email").click().run()
    at = at.button(key=f"portal_link_{customer_id}_confirm_yes").click().run()
    assert not at.exception
    [done] = notices(at, "success")
    assert "moved@example.net" in done
    [received] = smtp.received
    assert received.rcpt_tos == ["moved@example.net"]  # the address on Stripe's record now
    message = message_from_bytes(received.data, policy=policy.default)
    assert "moved@example.net" in str(message["To"])
    outcomes = audit.browse(ops.store_for(settings.ops_db))["outcome"].tolist()
    assert outcomes == ["emailed"]


def test_stripe_moving_on_after_the_confirmation_asks_again(live):
    customer_id = dunning_customer(live.settings)
    live.sandbox.change_customer(customer_id, "email", "first@example.net")
    request = LinkRequest(customer_id, "portal", "copy")
    with pytest.raises(NeedsConfirmation) as first:
        attempt(live.settings, request)
    live.sandbox.change_customer(customer_id, "email", "second@example.net")
    with pytest.raises(NeedsConfirmation) as again:
        attempt(live.settings, replace(request, confirmed=first.value.fingerprint))
    assert "second@example.net" in str(again.value)
    assert attempt(live.settings, replace(request, confirmed=again.value.fingerprint)).outcome == "created"


def test_a_customer_deleted_in_stripe_since_the_sync_is_refused(live):
    customer_id = dunning_customer(live.settings)
    assert live.sandbox.change_customer(customer_id, "delete")
    start = len(live.sandbox.requests)
    with pytest.raises(LinkError, match="deleted in Stripe since the last sync: no portal link"):
        attempt(live.settings, LinkRequest(customer_id, "portal", "copy"))
    assert all(r.method == "GET" for r in live.sandbox.requests.snapshot()[start:])
    assert audit.browse(ops.store_for(live.settings.ops_db))["outcome"].tolist() == ["refused"]


def test_no_link_when_stripe_cannot_be_rechecked(live, settings_with, smtp):
    settings = settings_with(STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}", **smtp.env())
    customer_id = dunning_customer(settings)
    with pytest.raises(LinkError, match=r"Could not re-check this customer in Stripe.*No link was made"):
        attempt(settings, LinkRequest(customer_id, "payment_method_update", "email"))
    assert smtp.received == []
    with ops.store_for(settings.ops_db).connect() as conn:
        assert tuple(conn.execute("SELECT count(*) FROM link_requests").fetchone()) == (
            0,
        )  # the slot given back
