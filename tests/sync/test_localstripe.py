"""Independent check against the third-party localstripe server, driven by the real
`stripe` package: what it creates, the sync loads.

localstripe speaks an older API shape (invoice.subscription, invoice.payment_intent,
plans instead of prices, events in API version 2017-08-15, oldest first) and lacks
/v1/prices, /v1/invoice_payments, `created` filters and `types[]` on events: the sync
must read it all the same.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import stripe

import sync
from tests.conftest import ARTIFACTS, free_port, wait_until_answering

API_KEY = "sk_test_localstripe"


@pytest.fixture
def localstripe() -> Iterator[str]:
    executable = shutil.which("localstripe") or str(
        Path(__file__).parents[2] / ".venv" / "bin" / "localstripe"
    )
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"localstripe-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [executable, "--port", str(port), "--from-scratch"], stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        probe = urllib.request.Request(f"{base}/v1/customers", headers={"Authorization": f"Bearer {API_KEY}"})
        wait_until_answering(probe, process, log_path, timeout=30)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _customer(client: stripe.StripeClient, email: str, card: str) -> stripe.Customer:
    customer = client.v1.customers.create({"email": email, "name": email.split("@")[0]})
    method = client.v1.payment_methods.create(
        {"type": "card", "card": {"number": card, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    client.v1.payment_methods.attach(method.id, {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": method.id}})
    return customer


def _table(db: Path, sql: str, *params: object) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_sync_loads_what_localstripe_holds(localstripe: str, tmp_path: Path) -> None:
    client = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})
    product = client.v1.products.create({"name": "Pro"})
    plan = client.v1.plans.create(
        {"id": "pro-monthly", "product": product.id, "amount": 2500, "currency": "eur", "interval": "month"}
    )
    good = _customer(client, "good@example.com", "4242424242424242")
    # 4000000000000341 attaches fine and fails every charge.
    bad = _customer(client, "bad@example.com", "4000000000000341")
    paid = client.v1.subscriptions.create({"customer": good.id, "items": [{"plan": plan.id}]})
    failing = client.v1.subscriptions.create({"customer": bad.id, "items": [{"plan": plan.id}]})
    assert (paid.status, failing.status) == ("active", "incomplete")

    db = tmp_path / "billing.duckdb"
    summary = sync.run(db, api_key=API_KEY, api_base=localstripe, workers=4, rate=200)
    assert summary.mode == "full"

    assert _table(db, "SELECT email, deleted FROM customers ORDER BY email") == [
        ("bad@example.com", False),
        ("good@example.com", False),
    ]
    assert _table(db, "SELECT id, unit_amount, currency, recurring_interval FROM prices") == [
        ("pro-monthly", 2500, "eur", "month")
    ]
    assert _table(db, "SELECT id, status FROM subscriptions ORDER BY status") == [
        (paid.id, "active"),
        (failing.id, "incomplete"),
    ]
    assert _table(db, "SELECT subscription_id, price_id FROM subscription_items ORDER BY 1") == sorted(
        [(paid.id, "pro-monthly"), (failing.id, "pro-monthly")]
    )
    invoices = dict(_table(db, "SELECT subscription_id, status FROM invoices"))
    assert invoices == {paid.id: "paid", failing.id: "open"}
    attempts = _table(
        db,
        "SELECT i.subscription_id, a.status, a.failure_code, a.amount, a.currency "
        "FROM payment_attempts a JOIN invoices i ON i.id = a.invoice_id ORDER BY a.status",
    )
    assert attempts == [
        (failing.id, "failed", "card_declined", 2500, "eur"),
        (paid.id, "succeeded", None, 2500, "eur"),
    ]

    # Changes reach the warehouse through localstripe's events (old API version: re-fetched).
    time.sleep(1.1)  # a new second, so that the change events are the newest
    client.v1.subscriptions.cancel(paid.id)
    client.v1.customers.delete(bad.id)
    newcomer = client.v1.customers.create({"email": "new@example.com"})
    summary = sync.run(db, api_key=API_KEY, api_base=localstripe, workers=4, rate=200)
    assert summary.mode == "incremental"
    assert summary.events > 0
    assert _table(db, "SELECT id, email, deleted FROM customers ORDER BY email") == [
        (bad.id, "bad@example.com", True),
        (good.id, "good@example.com", False),
        (newcomer.id, "new@example.com", False),
    ]
    assert _table(db, "SELECT status FROM subscriptions WHERE id = ?", paid.id) == [("canceled",)]
    # The deleted customer's subscription and invoice stay.
    assert _table(db, "SELECT count(*) FROM invoices WHERE customer_id = ?", bad.id) == [(1,)]
    assert _table(db, "SELECT mode, status FROM sync_runs ORDER BY id") == [
        ("full", "succeeded"),
        ("incremental", "succeeded"),
    ]
