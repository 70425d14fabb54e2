"""The generated account: deterministic, realistic, internally consistent."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox.generate import generate_account
from sandbox.store import ACCOUNT_FILE, deleted_customer_ids, get_meta, iter_objects

NOW = 1767225600  # 2026-01-01 00:00 UTC


def digest(folder: Path) -> str:
    return hashlib.sha256((folder / ACCOUNT_FILE).read_bytes()).hexdigest()


def load(data: Path) -> dict[str, list[dict[str, Any]]]:
    resources = (
        "customers",
        "products",
        "prices",
        "subscriptions",
        "subscription_items",
        "invoices",
        "invoice_payments",
        "payment_intents",
        "charges",
        "events",
        "payment_methods",
    )
    return {r: list(iter_objects(data, r)) for r in resources}


@pytest.fixture(scope="module")
def account(sandbox_account: Path) -> dict[str, list[dict[str, Any]]]:
    return load(sandbox_account)


def test_same_seed_and_now_give_the_same_bytes(tmp_path: Path) -> None:
    generate_account(tmp_path / "a", customers=40, months=12, seed=3, now=NOW)
    generate_account(tmp_path / "b", customers=40, months=12, seed=3, now=NOW)
    generate_account(tmp_path / "c", customers=40, months=12, seed=4, now=NOW)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_catalog_has_tiers_intervals_and_currencies(account: dict) -> None:
    prices = account["prices"]
    assert {p["currency"] for p in prices} == {"usd", "eur", "gbp", "jpy"}
    shapes = {(p["recurring"]["interval"], p["recurring"]["interval_count"]) for p in prices}
    assert {("month", 1), ("year", 1), ("month", 3)} <= shapes
    # JPY is zero-decimal: whole yen, not hundredths (a $12 plan is about ¥1,800, not ¥180,000).
    starter_jpy = next(p for p in prices if p["lookup_key"] == "starter_monthly_jpy")
    assert starter_jpy["unit_amount"] == 1800
    assert all(isinstance(p["unit_amount"], int) for p in prices)
    assert len(account["products"]) >= 4


def test_customers_are_a_realistic_and_awkward_crowd(account: dict, sandbox_account: Path) -> None:
    customers = account["customers"]
    names = [c["name"] for c in customers]
    emails = [c["email"] for c in customers]
    assert "<img src=x onerror=alert(1)>[click](https://example.org)" in names
    assert any(len(n) > 200 for n in names)
    assert any("'" in n for n in names)
    assert any(not n.isascii() for n in names)
    assert any("+" in e.split("@")[0] for e in emails)
    assert len(set(emails)) == len(emails)
    assert any(c["preferred_locales"] for c in customers)
    assert deleted_customer_ids(sandbox_account)


def test_subscriptions_cover_trials_cancellations_and_dunning(account: dict) -> None:
    subs = account["subscriptions"]
    statuses = {s["status"] for s in subs}
    assert {"active", "canceled", "past_due"} <= statuses
    reasons = {s["cancellation_details"]["reason"] for s in subs if s["status"] == "canceled"}
    assert {"cancellation_requested", "payment_failed"} <= reasons
    assert any(s["trial_start"] is not None for s in subs)
    assert any(s["cancel_at_period_end"] for s in subs)
    for s in subs:
        item = s["items"]["data"][0]
        assert item["current_period_start"] < item["current_period_end"]
        assert item["subscription"] == s["id"]
    invoices = account["invoices"]
    assert {"paid", "open", "void", "uncollectible"} <= {i["status"] for i in invoices}
    assert any(i["amount_due"] == 0 for i in invoices)
    assert any(i["billing_reason"] == "subscription_update" for i in invoices)


def test_every_reference_points_at_an_existing_object(account: dict) -> None:
    ids = {r: {o["id"] for o in objs} for r, objs in account.items()}
    for inv in account["invoices"]:
        assert inv["customer"] in ids["customers"]
        assert inv["parent"]["subscription_details"]["subscription"] in ids["subscriptions"]
    for sub in account["subscriptions"]:
        assert sub["customer"] in ids["customers"]
        assert sub["latest_invoice"] in ids["invoices"]
        assert sub["items"]["data"][0]["price"]["id"] in ids["prices"]
    for ip in account["invoice_payments"]:
        assert ip["invoice"] in ids["invoices"]
        assert ip["payment"]["payment_intent"] in ids["payment_intents"]
    for ch in account["charges"]:
        assert ch["payment_intent"] in ids["payment_intents"]
        assert ch["customer"] in ids["customers"]


def charges_by_invoice(account: dict) -> dict[str, list[dict[str, Any]]]:
    pi_to_invoice = {ip["payment"]["payment_intent"]: ip["invoice"] for ip in account["invoice_payments"]}
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ch in account["charges"]:
        found[pi_to_invoice[ch["payment_intent"]]].append(ch)
    for charges in found.values():
        charges.sort(key=lambda c: (c["created"], c["id"]))
    return found


def test_payments_agree_with_invoices(account: dict) -> None:
    charges = charges_by_invoice(account)
    for inv in account["invoices"]:
        attempts = charges.get(inv["id"], [])
        assert inv["attempt_count"] == len(attempts)
        if inv["status"] == "paid" and inv["amount_due"] > 0:
            assert attempts[-1]["status"] == "succeeded"
            assert attempts[-1]["amount"] == inv["amount_paid"] == inv["amount_due"]
            assert inv["status_transitions"]["paid_at"] == attempts[-1]["created"]
        if inv["status"] == "paid" and inv["amount_due"] == 0:
            assert attempts == []
        if inv["status"] in ("open", "uncollectible") or (inv["status"] == "void" and attempts):
            # In dunning or given up: every attempt failed, each with a decline code.
            assert attempts and all(c["status"] == "failed" for c in attempts)
            assert all(c["failure_code"] and c["outcome"]["reason"] for c in attempts)
        if len(attempts) > 1:
            assert attempts[0]["status"] == "failed"
    dunning_now = [i for i in account["invoices"] if i["status"] == "open"]
    assert dunning_now and all(i["next_payment_attempt"] for i in dunning_now)


def test_retries_follow_a_two_week_schedule(account: dict) -> None:
    charges = charges_by_invoice(account)
    for inv in account["invoices"]:
        attempts = charges.get(inv["id"], [])
        if len(attempts) > 1:
            span = attempts[-1]["created"] - attempts[0]["created"]
            assert span <= 14 * 86400


def test_newest_event_of_each_object_is_its_current_state(account: dict, sandbox_account: Path) -> None:
    meta = get_meta_of(sandbox_account)
    current = {o["id"]: o for objs in account.values() for o in objs}
    newest: dict[str, dict[str, Any]] = {}
    for event in account["events"]:  # newest first
        assert meta["now"] - 30 * 86400 <= event["created"] <= meta["now"]
        newest.setdefault(event["data"]["object"]["id"], event)
    assert len(newest) > 20
    deleted = deleted_customer_ids(sandbox_account)
    for oid, event in newest.items():
        if oid in deleted:
            assert event["type"] == "customer.deleted"
        assert event["data"]["object"] == current[oid], (event["type"], oid)
    types = {e["type"] for e in account["events"]}
    assert {"customer.created", "invoice.paid", "charge.succeeded", "customer.subscription.updated"} <= types


def get_meta_of(data: Path) -> dict[str, Any]:
    import sqlite3

    db = sqlite3.connect(data / ACCOUNT_FILE)
    try:
        return get_meta(db)
    finally:
        db.close()


def test_cli_generate_writes_an_account(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "cli"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox",
            "generate",
            "--customers",
            "5",
            "--months",
            "3",
            "--seed",
            "2",
            "--out",
            str(out),
            "--now",
            "2026-01-01",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert get_meta_of(out)["now"] == NOW
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox",
            "generate",
            "--customers",
            "5",
            "--out",
            str(out),
            "--now",
            "yesterday",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert bad.returncode == 2 and "not a date" in bad.stderr
    assert json.loads(json.dumps(get_meta_of(out)["counts"]))["customers"] == 5


def month_of(t: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(t, UTC)
    return moment.year, moment.month


def test_each_charge_used_the_payment_method_as_it_was_then(account: dict, sandbox_account: Path) -> None:
    methods = {pm["id"]: pm for pm in account["payment_methods"]}
    assert {pm["type"] for pm in methods.values()} == {"card", "sepa_debit"}
    wallets = {
        pm["card"]["wallet"]["type"]
        for pm in methods.values()
        if pm["type"] == "card" and pm["card"]["wallet"]
    }
    assert wallets == {"apple_pay", "google_pay"}
    assert any(pm["customer"] is None for pm in methods.values())  # replaced cards, detached
    expired_declines = 0
    for ch in account["charges"]:
        pm = methods[ch["payment_method"]]
        details = ch["payment_method_details"]
        assert details["type"] == pm["type"]
        if pm["type"] != "card":
            assert details["sepa_debit"]["last4"] == pm["sepa_debit"]["last4"]
            continue
        card = details["card"]
        # Brand and fingerprint never change; expiry and number only through updates.
        assert (card["brand"], card["fingerprint"]) == (pm["card"]["brand"], pm["card"]["fingerprint"])
        expired = (card["exp_year"], card["exp_month"]) < month_of(ch["created"])
        assert expired == (ch["failure_code"] == "expired_card"), ch["id"]
        expired_declines += expired
    assert expired_declines > 0
    now = get_meta_of(sandbox_account)["now"]
    for cust in account["customers"]:
        default = methods[cust["invoice_settings"]["default_payment_method"]]
        assert default["customer"] == cust["id"]
    for sub in account["subscriptions"]:
        if sub["default_payment_method"] and sub["status"] not in ("canceled", "incomplete_expired"):
            assert methods[sub["default_payment_method"]]["customer"] == sub["customer"]
    cards = [pm["card"] for pm in methods.values() if pm["type"] == "card" and pm["customer"]]
    assert any((c["exp_year"], c["exp_month"]) < month_of(now) for c in cards)  # already expired
    assert any(month_of(now) <= (c["exp_year"], c["exp_month"]) <= month_of(now + 62 * 86400) for c in cards)
