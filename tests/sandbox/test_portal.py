"""Portal sessions: validated as Stripe validates them, served as small HTML pages."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import stripe

from sandbox.store import deleted_customer_ids
from sandbox.testing import SandboxHandle
from tests.sandbox.conftest import client_for


def open_page(url: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
    data = None if form is None else urllib.parse.urlencode(form).encode()
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as answer:
            return answer.status, answer.url, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, url, error.read().decode()


def live_subscription(client: stripe.StripeClient) -> stripe.Subscription:
    return next(
        s
        for s in client.v1.subscriptions.list({"limit": 100, "status": "active"}).auto_paging_iter()
        if not s.cancel_at_period_end
    )


def test_session_page_names_the_customer_escaped(client: stripe.StripeClient) -> None:
    tricky = next(
        c for c in client.v1.customers.list({"limit": 100}).auto_paging_iter() if c.name and "<img" in c.name
    )
    session = client.v1.billing_portal.sessions.create(
        {"customer": tricky.id, "return_url": "https://console.example/back", "locale": "fr"}
    )
    assert session.object == "billing_portal.session" and session.locale == "fr"
    status, _, page = open_page(session.url)
    assert status == 200
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img" not in page
    assert "https://console.example/back" in page


@pytest.mark.parametrize(
    "flow_type", ["payment_method_update", "subscription_cancel", "subscription_update", "customer_update"]
)
def test_flows_deep_link(client: stripe.StripeClient, flow_type: str) -> None:
    sub = live_subscription(client)
    flow: dict = {"type": flow_type}
    if flow_type.startswith("subscription"):
        flow[flow_type] = {"subscription": sub.id}
    session = client.v1.billing_portal.sessions.create({"customer": sub.customer, "flow_data": flow})
    assert session.flow.type == flow_type
    _, _, page = open_page(session.url)
    assert f"data-flow='{flow_type}'" in page


def test_update_confirm_checks_item_and_price(client: stripe.StripeClient) -> None:
    sub = live_subscription(client)
    item = sub["items"].data[0]
    other = next(
        p
        for p in client.v1.prices.list({"limit": 100, "currency": sub.currency}).auto_paging_iter()
        if p.id != item.price.id and p.active
    )
    confirm = {"subscription": sub.id, "items": [{"id": item.id, "price": other.id, "quantity": 2}]}
    session = client.v1.billing_portal.sessions.create(
        {
            "customer": sub.customer,
            "flow_data": {"type": "subscription_update_confirm", "subscription_update_confirm": confirm},
        }
    )
    assert session.flow.subscription_update_confirm["items"][0].price == other.id
    for bad_item, param in (
        ({"id": "si_notthisone", "price": other.id}, "id"),
        ({"id": item.id, "price": "price_nope"}, "price"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            client.v1.billing_portal.sessions.create(
                {
                    "customer": sub.customer,
                    "flow_data": {
                        "type": "subscription_update_confirm",
                        "subscription_update_confirm": {"subscription": sub.id, "items": [bad_item]},
                    },
                }
            )
        assert error.value.param == f"flow_data[subscription_update_confirm][items][0][{param}]"


def test_invalid_sessions_are_refused(client: stripe.StripeClient, sandbox_account: Path) -> None:
    sub = live_subscription(client)
    someone_else = next(c for c in client.v1.customers.list({"limit": 100}).data if c.id != sub.customer)
    canceled = client.v1.subscriptions.list({"status": "canceled", "limit": 1}).data[0]
    gone = sorted(deleted_customer_ids(sandbox_account))[0]
    cases = [
        ({}, "customer"),
        ({"customer": "cus_nobody"}, "customer"),
        ({"customer": gone}, "customer"),
        ({"customer": sub.customer, "return_url": "javascript:alert(1)"}, "return_url"),
        ({"customer": sub.customer, "locale": "xx-YY"}, "locale"),
        ({"customer": sub.customer, "configuration": "bpc_nope"}, "configuration"),
        ({"customer": sub.customer, "flow_data": {"type": "teleport"}}, "flow_data[type]"),
        (
            {"customer": sub.customer, "flow_data": {"type": "subscription_cancel"}},
            "flow_data[subscription_cancel][subscription]",
        ),
        (
            {
                "customer": someone_else.id,
                "flow_data": {"type": "subscription_cancel", "subscription_cancel": {"subscription": sub.id}},
            },
            "flow_data[subscription_cancel][subscription]",
        ),
        (
            {
                "customer": canceled.customer,
                "flow_data": {
                    "type": "subscription_update",
                    "subscription_update": {"subscription": canceled.id},
                },
            },
            "flow_data[subscription_update][subscription]",
        ),
        ({"customer": sub.customer, "after_expiration": {"type": "forever"}}, "after_expiration[type]"),
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as error:
            client.v1.billing_portal.sessions.create(params)  # type: ignore[arg-type]
        assert error.value.http_status == 400 and error.value.param == param, params


def test_idempotency_key_replays_the_same_session(client: stripe.StripeClient) -> None:
    sub = live_subscription(client)
    params = {"customer": sub.customer, "return_url": "https://console.example/"}
    first = client.v1.billing_portal.sessions.create(params, {"idempotency_key": "agent-42-click-1"})
    again = client.v1.billing_portal.sessions.create(params, {"idempotency_key": "agent-42-click-1"})
    other = client.v1.billing_portal.sessions.create(params, {"idempotency_key": "agent-42-click-2"})
    assert first.id == again.id and first.url == again.url
    assert other.id != first.id
    with pytest.raises(stripe.IdempotencyError):
        client.v1.billing_portal.sessions.create(
            {**params, "locale": "de"}, {"idempotency_key": "agent-42-click-1"}
        )


def test_expired_session_offers_email_recovery(own_sandbox: SandboxHandle) -> None:
    client = client_for(own_sandbox)
    customer = client.v1.customers.list({"limit": 1}).data[0]
    own_sandbox.set_portal_ttl(0)
    plain = client.v1.billing_portal.sessions.create({"customer": customer.id})
    recoverable = client.v1.billing_portal.sessions.create(
        {"customer": customer.id, "after_expiration": {"type": "customer_login"}}
    )
    assert recoverable.after_expiration.type == "customer_login"
    time.sleep(1.1)
    _, _, dead = open_page(plain.url)
    assert "expired" in dead and "Verify your email" not in dead
    _, _, offer = open_page(recoverable.url)
    assert "Verify your email to continue" in offer
    status, _, refused = open_page(recoverable.url + "/recover", {"email": "someone@else.example"})
    assert status == 403 and "could not verify" in refused
    own_sandbox.set_portal_ttl(300)
    status, landed, page = open_page(recoverable.url + "/recover", {"email": customer.email})
    assert status == 200 and landed != recoverable.url and "Signed in as" in page


def test_portal_not_configured_answers_stripes_error(own_sandbox: SandboxHandle) -> None:
    client = client_for(own_sandbox)
    customer = client.v1.customers.list({"limit": 1}).data[0]
    own_sandbox.set_portal_configured(False)
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.billing_portal.sessions.create({"customer": customer.id})
    assert "customer portal settings" in str(error.value)
    own_sandbox.admin("/_sandbox/portal", {"configured": True})
    assert client.v1.billing_portal.sessions.create({"customer": customer.id}).customer == customer.id


def test_hosted_invoice_page_shows_and_takes_payment(own_sandbox: SandboxHandle) -> None:
    client = client_for(own_sandbox)
    invoice = client.v1.invoices.list({"status": "open", "limit": 1}).data[0]
    status, _, page = open_page(invoice.hosted_invoice_url)
    assert status == 200 and invoice.number in page and "data-status='open'" in page
    status, _, after = open_page(invoice.hosted_invoice_url + "/pay", {})
    assert status == 200 and "data-status='paid'" in after
    paid = client.v1.invoices.retrieve(invoice.id)
    assert paid.status == "paid" and paid.amount_remaining == 0
    events = client.v1.events.list({"type": "invoice.paid", "limit": 1}).data
    assert events[0].data.object.id == invoice.id
