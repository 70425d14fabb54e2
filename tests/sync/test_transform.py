"""Transforms read Stripe's own example objects (current API) and the older shapes that
event payloads and localstripe still use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sync import transform

# A few of Stripe's own example objects (current API shape), see "_source" in the file.
EXAMPLES = Path(__file__).with_name("stripe_examples.json")


@pytest.fixture(scope="module")
def stripe_examples() -> dict[str, Any]:
    return json.loads(EXAMPLES.read_text())["resources"]


def test_current_invoice_reads_subscription_from_parent(stripe_examples: dict[str, Any]) -> None:
    example = dict(stripe_examples["invoice"])
    example["parent"] = {"type": "subscription_details", "subscription_details": {"subscription": "sub_1"}}
    example["status_transitions"] = {**example["status_transitions"], "paid_at": 1700000100}
    row = transform.invoice(example)
    assert row["subscription_id"] == "sub_1"
    assert row["paid_at"] == 1700000100
    assert (row["amount_due"], row["amount_paid"], row["amount_remaining"]) == (1000, 0, 1000)
    assert row["currency"] == "usd"
    assert row["payment_intent_id"] is None and row["charge_id"] is None


def test_old_invoice_shape() -> None:
    old = {
        "id": "in_old",
        "object": "invoice",
        "customer": {"id": "cus_1", "object": "customer"},
        "subscription": "sub_old",
        "date": 1500000000,
        "paid": False,
        "forgiven": False,
        "amount_due": 500,
        "amount_paid": 0,
        "currency": "eur",
        "billing": "charge_automatically",
        "charge": "ch_1",
        "payment_intent": {"id": "pi_1", "object": "payment_intent"},
    }
    row = transform.invoice(old)
    assert row["customer_id"] == "cus_1"
    assert row["subscription_id"] == "sub_old"
    assert row["created"] == 1500000000
    assert row["status"] == "open"
    assert row["amount_remaining"] == 500
    assert row["collection_method"] == "charge_automatically"
    assert (row["payment_intent_id"], row["charge_id"]) == ("pi_1", "ch_1")


def test_current_subscription_keeps_periods_on_items(stripe_examples: dict[str, Any]) -> None:
    example = stripe_examples["subscription"]
    rows = transform.rows([example])
    (sub,) = rows["subscriptions"]
    (item,) = rows["subscription_items"]
    prices = {p["id"]: p for p in rows[transform.EMBEDDED_PRICES]}
    price = prices["price_1PgafmB7WZ01zgkW6dKueIc5"]
    assert sub["customer_id"] == "cus_QXg1o8vcGmoR32"
    assert sub["cancel_at_period_end"] is True
    assert item["subscription_id"] == example["id"]
    assert item["price_id"] == "price_1PgafmB7WZ01zgkW6dKueIc5"
    assert item["current_period_start"] == example["items"]["data"][0]["current_period_start"]
    assert (price["unit_amount"], price["recurring_interval"], price["recurring_interval_count"]) == (
        2000,
        "month",
        1,
    )


def test_old_subscription_shape_with_plan_and_period_on_subscription() -> None:
    old = {
        "id": "sub_old",
        "object": "subscription",
        "customer": "cus_1",
        "status": "past_due",
        "start": 1500000000,
        "current_period_start": 1500000000,
        "current_period_end": 1502678400,
        "cancel_at_period_end": None,
        "items": {
            "object": "list",
            "has_more": False,
            "data": [
                {
                    "id": "si_1",
                    "object": "subscription_item",
                    "quantity": 3,
                    "plan": {
                        "id": "gold",
                        "object": "plan",
                        "amount": 999,
                        "currency": "jpy",
                        "interval": "year",
                        "interval_count": 1,
                        "product": "prod_1",
                    },
                }
            ],
        },
    }
    rows = transform.rows([old])
    (sub,) = rows["subscriptions"]
    (item,) = rows["subscription_items"]
    (price,) = rows[transform.EMBEDDED_PRICES]
    assert sub["start_date"] == 1500000000
    assert sub["currency"] == "jpy"
    assert sub["cancel_at_period_end"] is False
    assert (item["price_id"], item["quantity"]) == ("gold", 3)
    assert (item["current_period_start"], item["current_period_end"]) == (1500000000, 1502678400)
    assert (price["unit_amount"], price["recurring_interval"], price["product_id"]) == (999, "year", "prod_1")


def test_truncated_item_list_is_detected() -> None:
    sub = {"id": "sub_1", "object": "subscription", "items": {"data": [], "has_more": True}}
    assert not transform.items_complete(sub)
    full = transform.with_items(sub, [{"id": "si_1", "object": "subscription_item"}])
    assert transform.items_complete(full)
    assert [r["id"] for r in transform.rows([full])["subscription_items"]] == ["si_1"]


def test_charge_decline_and_old_invoice_link(stripe_examples: dict[str, Any]) -> None:
    example = {
        **stripe_examples["charge"],
        "status": "failed",
        "failure_code": "card_declined",
        "invoice": "in_legacy",
        "outcome": {"type": "issuer_declined", "reason": "insufficient_funds"},
    }
    row = transform.charge(example)
    assert row["invoice_id"] == "in_legacy"
    assert (row["failure_code"], row["decline_code"], row["outcome_type"]) == (
        "card_declined",
        "insufficient_funds",
        "issuer_declined",
    )


def test_invoice_payment_links_invoice_to_payment_intent(stripe_examples: dict[str, Any]) -> None:
    example = {
        **stripe_examples["invoice_payment"],
        "invoice": "in_1",
        "payment": {"type": "payment_intent", "payment_intent": "pi_1"},
    }
    row = transform.invoice_payment(example)
    assert (row["invoice_id"], row["payment_intent_id"], row["charge_id"]) == ("in_1", "pi_1", None)


def test_customer_and_deleted_stub(stripe_examples: dict[str, Any]) -> None:
    row = transform.customer(stripe_examples["customer"])
    assert row["deleted"] is False and row["delinquent"] is False and row["currency"] == "usd"
    stub = transform.customer(stripe_examples["deleted_customer"])
    assert stub["deleted"] is True and stub["email"] is None


def test_unknown_objects_are_ignored() -> None:
    assert transform.rows([{"id": "pi_1", "object": "payment_intent"}]) == {}
