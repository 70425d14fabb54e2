"""The real `stripe` package against the sandbox: lists, retrieves, filters, expands, errors."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import stripe

from sandbox.store import deleted_customer_ids, iter_objects
from sandbox.testing import SandboxHandle, running_sandbox
from tests.sandbox.conftest import client_for

ROOT = Path(__file__).resolve().parents[2]
# A copy of the team's shared reference (MIT, see tests/reference/README.md), so a clone is self-contained.
FIXTURES = ROOT / "tests" / "reference" / "stripe-openapi-fixtures3.json"
RESOURCES = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "subscriptions": "subscription",
    "subscription_items": "subscription_item",
    "invoices": "invoice",
    "invoice_payments": "invoice_payment",
    "payment_intents": "payment_intent",
    "charges": "charge",
    "events": "event",
    "payment_methods": "payment_method",
}


def get(handle: SandboxHandle, path: str, key: str | None = None) -> tuple[int, dict[str, Any]]:
    """A raw GET; `key=""` sends no Authorization header at all."""
    request = urllib.request.Request(handle.base_url + path)
    key = handle.api_key if key is None else key
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def reference() -> dict[str, Any]:
    return json.loads(FIXTURES.read_text())["resources"]


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_every_object_has_the_reference_keys(sandbox: SandboxHandle, resource: str) -> None:
    expected = set(reference()[RESOURCES[resource]])
    query = "?limit=100" + ("&status=all" if resource == "subscriptions" else "")
    if resource == "subscription_items":
        _, subs = get(sandbox, "/v1/subscriptions?limit=1")
        query += f"&subscription={subs['data'][0]['id']}"
    if resource == "payment_methods":
        _, customers = get(sandbox, "/v1/customers?limit=1")
        query += f"&customer={customers['data'][0]['id']}&type=card"
    status, page = get(sandbox, f"/v1/{resource}{query}")
    assert status == 200 and page["object"] == "list" and page["url"] == f"/v1/{resource}"
    assert page["data"]
    for obj in page["data"]:
        assert expected <= set(obj), sorted(expected - set(obj))
        assert obj["object"] == RESOURCES[resource]


def test_deleted_customer_and_portal_session_have_the_reference_keys(
    sandbox: SandboxHandle, sandbox_account: Path, client: stripe.StripeClient
) -> None:
    gone = sorted(deleted_customer_ids(sandbox_account))[0]
    status, body = get(sandbox, f"/v1/customers/{gone}")
    assert status == 200 and body == {"id": gone, "object": "customer", "deleted": True}
    assert set(body) == set(reference()["deleted_customer"])
    customer = client.v1.customers.list({"limit": 1}).data[0]
    session = client.v1.billing_portal.sessions.create({"customer": customer.id})
    assert set(reference()["billing_portal.session"]) <= set(session.to_dict())


def test_auto_pagination_lists_everything_newest_first(
    client: stripe.StripeClient, sandbox_account: Path
) -> None:
    gone = deleted_customer_ids(sandbox_account)
    stored = [c["id"] for c in iter_objects(sandbox_account, "customers") if c["id"] not in gone]
    listed = [c.id for c in client.v1.customers.list({"limit": 7}).auto_paging_iter()]
    assert listed == stored
    invoices = list(client.v1.invoices.list({"limit": 100}).auto_paging_iter())
    keys = [(i.created, i.id) for i in invoices]
    assert keys == sorted(keys, reverse=True)
    assert len(invoices) == sum(1 for _ in iter_objects(sandbox_account, "invoices"))


def test_paging_backwards_with_ending_before(client: stripe.StripeClient) -> None:
    first = client.v1.charges.list({"limit": 30})
    second = client.v1.charges.list({"limit": 30, "starting_after": first.data[-1].id})
    back = client.v1.charges.list({"limit": 30, "ending_before": second.data[0].id})
    assert [c.id for c in back.data] == [c.id for c in first.data]
    assert first.has_more and not back.has_more


def test_canceled_subscriptions_only_with_status_all_or_canceled(client: stripe.StripeClient) -> None:
    default = list(client.v1.subscriptions.list({"limit": 100}).auto_paging_iter())
    everything = list(client.v1.subscriptions.list({"limit": 100, "status": "all"}).auto_paging_iter())
    canceled = list(client.v1.subscriptions.list({"limit": 100, "status": "canceled"}).auto_paging_iter())
    assert all(s.status != "canceled" for s in default)
    assert canceled and all(s.status == "canceled" for s in canceled)
    assert len(everything) == len(default) + len(canceled)


def test_created_filters(client: stripe.StripeClient) -> None:
    invoices = list(client.v1.invoices.list({"limit": 100}).auto_paging_iter())
    pivot = invoices[len(invoices) // 2].created
    newer = list(client.v1.invoices.list({"limit": 100, "created": {"gte": pivot}}).auto_paging_iter())
    older = list(client.v1.invoices.list({"limit": 100, "created": {"lt": pivot}}).auto_paging_iter())
    assert newer and older and len(newer) + len(older) == len(invoices)
    assert all(i.created >= pivot for i in newer) and all(i.created < pivot for i in older)
    window = client.v1.invoices.list({"created": {"gt": pivot - 86400, "lte": pivot}, "limit": 100})
    assert all(pivot - 86400 < i.created <= pivot for i in window.data)


def test_retrieve_and_filter_by_relation(client: stripe.StripeClient) -> None:
    sub = client.v1.subscriptions.list({"limit": 1, "status": "past_due"}).data[0]
    assert client.v1.subscriptions.retrieve(sub.id).id == sub.id
    items = client.v1.subscription_items.list({"subscription": sub.id})
    assert [i.id for i in items.data] == [sub["items"].data[0].id]
    assert items.data[0].current_period_end == sub["items"].data[0].current_period_end
    invoices = client.v1.invoices.list({"customer": sub.customer, "limit": 100}).data
    assert invoices and all(i.customer == sub.customer for i in invoices)
    open_invoice = client.v1.invoices.list({"subscription": sub.id, "status": "open"}).data[0]
    assert open_invoice.parent.subscription_details.subscription == sub.id
    assert open_invoice.hosted_invoice_url.startswith("http://127.0.0.1:")
    payments = client.v1.invoice_payments.list({"invoice": open_invoice.id}).data
    charges = client.v1.charges.list({"payment_intent": payments[0].payment.payment_intent}).data
    assert len(charges) == open_invoice.attempt_count
    assert all(c.status == "failed" and c.outcome.reason for c in charges)


def test_expand_lists_and_retrieves(client: stripe.StripeClient) -> None:
    page = client.v1.invoices.list(
        {"limit": 20, "status": "paid", "expand": ["data.payments", "data.customer"]}
    )
    paid = [i for i in page.data if i.amount_paid > 0]
    assert paid
    for inv in paid:
        assert inv.payments.data[0].status == "paid"
        assert inv.customer.object == "customer"
    ip = client.v1.invoice_payments.list({"limit": 1, "expand": ["data.payment.payment_intent"]}).data[0]
    assert ip.payment.payment_intent.object == "payment_intent"
    sub = client.v1.subscriptions.retrieve(
        client.v1.subscriptions.list({"limit": 1}).data[0].id, {"expand": ["latest_invoice", "customer"]}
    )
    assert sub.latest_invoice.object == "invoice" and sub.customer.object == "customer"


def test_events_filter_by_type(client: stripe.StripeClient) -> None:
    paid = list(client.v1.events.list({"type": "invoice.paid", "limit": 100}).auto_paging_iter())
    assert paid and all(e.type == "invoice.paid" for e in paid)
    some = list(
        client.v1.events.list(
            {"types": ["charge.failed", "charge.succeeded"], "limit": 100}
        ).auto_paging_iter()
    )
    assert {e.type for e in some} <= {"charge.failed", "charge.succeeded"}
    wildcard = list(client.v1.events.list({"type": "customer.*", "limit": 100}).auto_paging_iter())
    assert wildcard and all(e.type.startswith("customer.") for e in wildcard)
    assert all(e.api_version == "2026-10-28.endive" for e in wildcard)


def test_bad_requests_get_stripe_errors(client: stripe.StripeClient, sandbox: SandboxHandle) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    assert missing.value.param == "id"
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        client.v1.customers.list({"limit": 101})
    assert too_many.value.param == "limit" and too_many.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.list({"colour": "blue"})  # type: ignore[typeddict-unknown-key]
    assert unknown.value.param == "colour"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.list({"starting_after": "cus_nobody"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscription_items.list({})  # type: ignore[typeddict-item]
    with pytest.raises(stripe.AuthenticationError) as wrong_key:
        client_for(sandbox, "sk_test_not_the_right_one").v1.customers.list()
    assert wrong_key.value.http_status == 401
    assert "not_the_right_one" not in str(wrong_key.value)
    status, body = get(sandbox, "/v1/customers", key="")
    assert status == 401 and body["error"]["type"] == "invalid_request_error"
    status, body = get(sandbox, "/v1/no_such_thing")
    assert status == 404 and "Unrecognized request URL" in body["error"]["message"]


def test_restricted_keys_are_held_to_their_permissions(sandbox_account: Path) -> None:
    keys = {"rk_test_sync_only": "read", "rk_test_portal_only": "portal_write"}
    with running_sandbox(sandbox_account, restricted_keys=keys) as handle:
        reader = client_for(handle, "rk_test_sync_only")
        portal = client_for(handle, "rk_test_portal_only")
        customer = reader.v1.customers.list({"limit": 1}).data[0]
        with pytest.raises(stripe.PermissionError) as denied:
            reader.v1.billing_portal.sessions.create({"customer": customer.id})
        assert denied.value.http_status == 403
        assert "rak_billing_portal_session_write" in str(denied.value)
        session = portal.v1.billing_portal.sessions.create({"customer": customer.id})
        assert session.customer == customer.id
        with pytest.raises(stripe.PermissionError):
            portal.v1.customers.retrieve(customer.id)
        used = {(r.key, r.method, r.path) for r in handle.requests}
        assert ("rk_test_portal_only", "POST", "/v1/billing_portal/sessions") in used
        assert ("rk_test_sync_only", "GET", "/v1/customers") in used


def test_stripe_version_header_is_accepted_and_echoed(sandbox: SandboxHandle) -> None:
    request = urllib.request.Request(sandbox.base_url + "/v1/products?limit=1")
    request.add_header("Authorization", f"Bearer {sandbox.api_key}")
    request.add_header("Stripe-Version", "2024-06-20")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Stripe-Version"] == "2024-06-20"
        assert answer.headers["Request-Id"].startswith("req_")


def test_payment_methods_of_a_customer_by_id_and_expanded(
    client: stripe.StripeClient, sandbox_account: Path
) -> None:
    gone = deleted_customer_ids(sandbox_account)
    methods = list(iter_objects(sandbox_account, "payment_methods"))
    owner = next(pm["customer"] for pm in methods if pm["customer"] and pm["customer"] not in gone)
    attached = {pm["id"] for pm in methods if pm["customer"] == owner}
    assert {pm.id for pm in client.v1.customers.payment_methods.list(owner).auto_paging_iter()} == attached
    assert {
        pm.id for pm in client.v1.payment_methods.list({"customer": owner}).auto_paging_iter()
    } == attached
    detached = next(pm for pm in methods if pm["customer"] is None)
    assert client.v1.payment_methods.retrieve(detached["id"]).customer is None
    customer = client.v1.customers.retrieve(owner, {"expand": ["invoice_settings.default_payment_method"]})
    assert customer.invoice_settings.default_payment_method.id in attached
    listed = client.v1.customers.list(
        {"limit": 5, "expand": ["data.invoice_settings.default_payment_method"]}
    )
    assert all(c.invoice_settings.default_payment_method.object == "payment_method" for c in listed.data)
    subs = client.v1.subscriptions.list(
        {"status": "all", "limit": 100, "expand": ["data.default_payment_method"]}
    )
    assert any(
        s.default_payment_method and s.default_payment_method.object == "payment_method" for s in subs.data
    )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.payment_methods.list(next(iter(gone)) if gone else "cus_missing")
