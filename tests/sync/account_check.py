"""Compare a warehouse with the sandbox's own account data, read straight from its files
(never through the sync's transforms)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import duckdb

from sandbox.store import deleted_customer_ids, iter_objects

SYNC_TABLES = (
    "customers",
    "products",
    "prices",
    "subscriptions",
    "subscription_items",
    "invoices",
    "invoice_payments",
    "charges",
    "payment_attempts",
)


def query(db: Path, sql: str, *params: Any) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def tables(db: Path) -> dict[str, list[tuple]]:
    """Every synced table's rows, sorted: two warehouses with equal tables hold the same data."""
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in SYNC_TABLES}  # noqa: S608


def assert_matches_account(db: Path, data: Path) -> None:
    gone_ids = deleted_customer_ids(data)
    customers = list(iter_objects(data, "customers"))
    live = {c["id"]: c for c in customers if c["id"] not in gone_ids}
    deleted = {c["id"]: c for c in customers if c["id"] in gone_ids}
    got = {row[0]: row[1:] for row in query(db, "SELECT id, email, deleted FROM customers")}
    assert {cid for cid, (_, gone) in got.items() if not gone} == set(live)
    assert {cid for cid, (_, gone) in got.items() if gone} <= set(deleted)
    assert all(got[cid][0] == c.get("email") for cid, c in live.items())

    products = {p["id"]: p["name"] for p in iter_objects(data, "products")}
    assert dict(query(db, "SELECT id, name FROM products")) == products

    prices = {
        p["id"]: (p["unit_amount"], p["currency"], (p.get("recurring") or {}).get("interval"))
        for p in iter_objects(data, "prices")
    }
    got_prices = {
        r[0]: r[1:] for r in query(db, "SELECT id, unit_amount, currency, recurring_interval FROM prices")
    }
    assert got_prices == prices

    subscriptions = {s["id"]: (s["customer"], s["status"]) for s in iter_objects(data, "subscriptions")}
    got_subs = {r[0]: r[1:] for r in query(db, "SELECT id, customer_id, status FROM subscriptions")}
    assert got_subs == subscriptions
    # Every subscription's customer is there, deleted ones included.
    assert {customer for customer, _ in subscriptions.values()} <= set(got)

    items = {
        i["id"]: (i["subscription"], i["price"]["id"], i["quantity"])
        for i in iter_objects(data, "subscription_items")
    }
    got_items = {
        r[0]: r[1:]
        for r in query(db, "SELECT id, subscription_id, price_id, quantity FROM subscription_items")
    }
    assert got_items == items

    invoices = list(iter_objects(data, "invoices"))
    assert {r[0]: r[1] for r in query(db, "SELECT id, status FROM invoices")} == {
        i["id"]: i["status"] for i in invoices
    }
    sums: Counter = Counter()
    for i in invoices:
        sums[(i["currency"], "due")] += i["amount_due"]
        sums[(i["currency"], "paid")] += i["amount_paid"]
        sums[(i["currency"], "remaining")] += i["amount_remaining"]
    got_sums: Counter = Counter()
    for currency, due, paid, remaining in query(
        db,
        "SELECT currency, sum(amount_due), sum(amount_paid), sum(amount_remaining) FROM invoices GROUP BY 1",
    ):
        got_sums.update(
            {(currency, "due"): due, (currency, "paid"): paid, (currency, "remaining"): remaining}
        )
    assert +got_sums == +sums

    payments = {p["id"]: p for p in iter_objects(data, "invoice_payments")}
    assert {r[0] for r in query(db, "SELECT id FROM invoice_payments")} == set(payments)
    invoice_of_intent = {p["payment"]["payment_intent"]: p["invoice"] for p in payments.values()}
    charges = list(iter_objects(data, "charges"))
    assert {r[0] for r in query(db, "SELECT id FROM charges")} == {c["id"] for c in charges}
    attempts = {
        c["id"]: (invoice_of_intent[c["payment_intent"]], c["status"], c["amount"], c["currency"])
        for c in charges
        if c.get("payment_intent") in invoice_of_intent
    }
    got_attempts = {
        r[0]: r[1:]
        for r in query(db, "SELECT id, invoice_id, status, amount, currency FROM payment_attempts")
    }
    assert got_attempts == attempts
    failed = Counter(c["outcome"]["reason"] for c in charges if c["status"] == "failed")
    got_failed = Counter(
        dict(
            query(
                db, "SELECT decline_code, count(*) FROM payment_attempts WHERE status = 'failed' GROUP BY 1"
            )
        )
    )
    assert got_failed == failed

    for table in SYNC_TABLES:  # primary keys hold: nothing duplicated
        total, distinct = query(db, f"SELECT count(*), count(DISTINCT id) FROM {table}")[0]  # noqa: S608
        assert total == distinct, table
