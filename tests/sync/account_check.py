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
    "payment_methods",
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

    assert_payment_methods_match(
        db, data, live, subscriptions={s["id"]: s for s in iter_objects(data, "subscriptions")}
    )
    card_of_charge = {
        c["id"]: card_columns((c.get("payment_method_details") or {}).get("card")) for c in charges
    }
    got_cards = {
        r[0]: r[1:]
        for r in query(db, "SELECT id, card_brand, card_last4, card_exp_month, card_exp_year FROM charges")
    }
    assert got_cards == card_of_charge
    got_attempt_cards = query(
        db, "SELECT id, card_brand, card_last4, card_exp_month, card_exp_year FROM payment_attempts"
    )
    assert all(card_of_charge[r[0]] == r[1:] for r in got_attempt_cards)

    for table in SYNC_TABLES:  # primary keys hold: nothing duplicated
        total, distinct = query(db, f"SELECT count(*), count(DISTINCT id) FROM {table}")[0]  # noqa: S608
        assert total == distinct, table


def card_columns(card: dict[str, Any] | None) -> tuple:
    card = card or {}
    return card.get("brand"), card.get("last4"), card.get("exp_month"), card.get("exp_year")


def assert_payment_methods_match(
    db: Path, data: Path, live: dict[str, dict], subscriptions: dict[str, dict]
) -> None:
    """Every payment method in the warehouse is the sandbox's, as it is now; every default
    and every method an event of the last 30 days touched is there (Stripe lists methods
    only per customer: older non-default ones are out of the sync's reach, see README)."""
    methods = {pm["id"]: pm for pm in iter_objects(data, "payment_methods")}
    last_owner, touched = {}, set()
    for event in iter_objects(data, "events"):  # newest first
        if event["type"].startswith("payment_method."):
            touched.add(event["data"]["object"]["id"])
        if event["type"] == "payment_method.detached":
            last_owner.setdefault(
                event["data"]["object"]["id"], event["data"]["previous_attributes"]["customer"]
            )

    def expected(pm: dict[str, Any]) -> tuple:
        card = pm.get("card") or {}
        return (
            pm["customer"] or last_owner.get(pm["id"]),
            pm["type"],
            *card_columns(card),
            card.get("funding"),
            card.get("country"),
            (card.get("wallet") or {}).get("type"),
            pm["customer"] is None,
        )

    got = {
        r[0]: r[1:]
        for r in query(
            db,
            "SELECT id, customer_id, type, card_brand, card_last4, card_exp_month, card_exp_year, "
            "card_funding, card_country, wallet, detached FROM payment_methods",
        )
    }
    want = {pm_id: expected(methods[pm_id]) for pm_id in got}
    assert got == want, [(k, got[k], want[k]) for k in got if got[k] != want[k]]
    defaults = {c["invoice_settings"]["default_payment_method"] for c in live.values()}
    defaults |= {s["default_payment_method"] for s in subscriptions.values() if s["default_payment_method"]}
    assert defaults | (touched & set(methods)) <= set(got), [
        (m, methods[m]["customer"], m in defaults, m in touched) for m in (defaults | touched) - set(got)
    ]

    got_defaults = dict(query(db, "SELECT id, default_payment_method_id FROM customers WHERE NOT deleted"))
    assert got_defaults == {cid: c["invoice_settings"]["default_payment_method"] for cid, c in live.items()}
    got_sub_defaults = dict(query(db, "SELECT id, default_payment_method_id FROM subscriptions"))
    assert got_sub_defaults == {sid: s["default_payment_method"] for sid, s in subscriptions.items()}
