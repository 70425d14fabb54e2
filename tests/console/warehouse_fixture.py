"""A small hand-made warehouse for console tests: the real schema, rows chosen to catch mistakes.

Three currencies (usd, eur, jpy: ¥ has no decimals), live and test-mode customers, a
deleted customer, names holding HTML/Markdown and an SQL fragment, accents ("José"),
invoices in dunning with failed attempts (and an open invoice without any, which is
not in dunning), payment methods (an expired card, one that expires before its
subscription renews, a wallet, SEPA debit), and one succeeded plus one failed sync run.

The deleted customer is the stub the sync writes for a customer Stripe no longer lists:
no mode on the record, a test-mode hosted invoice page.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from settings import ROOT

SCHEMA = ROOT / "sync" / "schema.sql"

HTML_NAME = "<img src=x onerror=alert(1)>[click](https://example.org)"
SQL_NAME = "'; DROP TABLE customers; --"

JOSE = "cus_Jose1"
ZOE = "cus_Zoe1"
TANAKA = "cus_Tanaka1"
BIGRISK = "cus_BigRisk1"
DELETED = "cus_Gone1"
HTML = "cus_Html1"
SQL = "cus_Sql1"
QUIET = "cus_Quiet1"

JOSE_SUBSCRIPTION = "sub_Jose1"
JOSE_OPEN_INVOICE = "in_JoseOpen1"
JOSE_OPEN_NUMBER = "ABCD1234-0002"
BIGRISK_OPEN_INVOICE = "in_BigOpen1"
QUIET_OPEN_INVOICE = "in_QuietOpen1"
TEST_MODE_CUSTOMERS = (ZOE, DELETED)
# José's subscription renews in 60 days and charges its own default card, which expires
# at the end of the month 15 days from now: before the renewal, after today.
JOSE_RENEWAL_DAYS = 60
JOSE_CARD = "pm_JoseVisa"
JOSE_OLD_CARD = "pm_JoseOld"  # the customer's own default: expired


def utc_now() -> datetime:
    """Now as the warehouse stores it: naive UTC, whole seconds."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def build_warehouse(path: Path, *, synced_minutes_ago: int = 5) -> Path:
    """Write the fixture warehouse at `path` (replacing any file there) and return the path.

    The latest succeeded sync run finished `synced_minutes_ago` minutes before now.
    """
    path.unlink(missing_ok=True)
    now = utc_now()
    day = timedelta(days=1)
    con = duckdb.connect(str(path))
    try:
        con.execute(SCHEMA.read_text())
        _customers(con, now)
        _catalog(con, now)
        _subscriptions(con, now)
        _invoices(con, now, day)
        _payment_methods(con, now)
        _sync_runs(con, now, synced_minutes_ago)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


def publish_change(path: Path, *statements: str | tuple[str, list]) -> None:
    """Change the warehouse the way a sync run does: on a copy, renamed over the live file
    (the console notices a new snapshot; its open one is left alone)."""
    staging = path.with_name(path.name + ".next")
    shutil.copyfile(path, staging)
    con = duckdb.connect(str(staging))
    try:
        for statement in statements:
            sql, params = (statement, []) if isinstance(statement, str) else statement
            con.execute(sql, params)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(staging, path)


def _customers(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    rows = [
        # id, email, name, created, currency, delinquent, deleted, livemode
        (
            JOSE,
            "jose.alvarez@example.com",
            "José Álvarez",
            now - timedelta(days=400),
            "usd",
            True,
            False,
            True,
        ),
        (ZOE, "zoe@example.de", "Zoë Müller", now - timedelta(days=300), "eur", True, False, False),
        (TANAKA, "tanaka@example.jp", "Tanaka Hiroshi", now - timedelta(days=200), "jpy", True, False, True),
        (
            BIGRISK,
            "Ops@BigRisk.example",
            "Big Risk Corp",
            now - timedelta(days=100),
            "usd",
            True,
            False,
            True,
        ),
        (DELETED, "gone@example.com", "Deleted Person", now - timedelta(days=500), "usd", False, True, None),
        (HTML, "html@example.com", HTML_NAME, now - timedelta(days=50), "usd", False, False, True),
        (SQL, "sql@example.com", SQL_NAME, now - timedelta(days=40), "usd", False, False, True),
        (QUIET, "quiet@example.com", "Quiet Invoice", now - timedelta(days=30), "usd", False, False, True),
    ]
    con.executemany(
        "INSERT INTO customers (id, email, name, created, currency, delinquent, deleted, livemode, metadata) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}')",
        rows,
    )


def _catalog(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    con.executemany(
        "INSERT INTO products (id, name, active, created) VALUES (?, ?, true, ?)",
        [("prod_Basic", "Basic plan", now), ("prod_Pro", "Pro plan", now)],
    )
    con.executemany(
        "INSERT INTO prices (id, product_id, currency, unit_amount, recurring_interval, "
        "recurring_interval_count, active, created) VALUES (?, ?, ?, ?, ?, ?, true, ?)",
        [
            ("price_UsdMonth", "prod_Basic", "usd", 2000, "month", 1, now),
            ("price_UsdBig", "prod_Pro", "usd", 25000, "month", 1, now),
            ("price_EurYear", "prod_Pro", "eur", 10800, "year", 1, now),
            ("price_JpyMonth", "prod_Basic", "jpy", 1200, "month", 1, now),
        ],
    )


def _subscriptions(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    subs = [
        # id, customer, status, currency, created, trial_end, cancel_at_period_end, canceled_at,
        # ended_at, price
        (
            JOSE_SUBSCRIPTION,
            JOSE,
            "past_due",
            "usd",
            now - timedelta(days=390),
            None,
            False,
            None,
            None,
            "price_UsdMonth",
        ),
        (
            "sub_Zoe1",
            ZOE,
            "past_due",
            "eur",
            now - timedelta(days=290),
            now - timedelta(days=276),
            True,
            None,
            None,
            "price_EurYear",
        ),
        (
            "sub_Tanaka1",
            TANAKA,
            "active",
            "jpy",
            now - timedelta(days=190),
            None,
            False,
            None,
            None,
            "price_JpyMonth",
        ),
        (
            "sub_Big1",
            BIGRISK,
            "past_due",
            "usd",
            now - timedelta(days=90),
            None,
            False,
            None,
            None,
            "price_UsdBig",
        ),
        (
            "sub_Gone1",
            DELETED,
            "canceled",
            "usd",
            now - timedelta(days=480),
            None,
            False,
            now - timedelta(days=100),
            now - timedelta(days=100),
            "price_UsdMonth",
        ),
        (
            "sub_Html1",
            HTML,
            "trialing",
            "usd",
            now - timedelta(days=5),
            now + timedelta(days=9),
            False,
            None,
            None,
            "price_UsdMonth",
        ),
    ]
    for sub_id, customer, status, currency, created, trial_end, at_period_end, canceled, ended, price in subs:
        con.execute(
            "INSERT INTO subscriptions (id, customer_id, status, collection_method, currency, created, "
            "start_date, trial_start, trial_end, cancel_at_period_end, canceled_at, ended_at) "
            "VALUES (?, ?, ?, 'charge_automatically', ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                sub_id,
                customer,
                status,
                currency,
                created,
                created,
                created if trial_end else None,
                trial_end,
                at_period_end,
                canceled,
                ended,
            ],
        )
        con.execute(
            "INSERT INTO subscription_items (id, subscription_id, price_id, quantity, current_period_start, "
            "current_period_end, created) VALUES (?, ?, ?, 1, ?, ?, ?)",
            [
                "si_" + sub_id[4:],
                sub_id,
                price,
                now - timedelta(days=10),
                now + timedelta(days=JOSE_RENEWAL_DAYS if sub_id == JOSE_SUBSCRIPTION else 20),
                created,
            ],
        )


def _invoices(con: duckdb.DuckDBPyConnection, now: datetime, day: timedelta) -> None:
    def invoice(
        inv_id, number, customer, sub, status, currency, due, paid, attempts, created, next_attempt=None
    ):
        remaining = due - paid if status == "open" else 0
        con.execute(
            "INSERT INTO invoices (id, number, customer_id, subscription_id, status, collection_method, "
            "billing_reason, currency, amount_due, amount_paid, amount_remaining, attempt_count, "
            "next_payment_attempt, created, finalized_at, paid_at, hosted_invoice_url) "
            "VALUES (?, ?, ?, ?, ?, 'charge_automatically', 'subscription_cycle', "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                inv_id,
                number,
                customer,
                sub,
                status,
                currency,
                due,
                paid,
                remaining,
                attempts,
                next_attempt,
                created,
                created,
                created + timedelta(hours=1) if status == "paid" else None,
                # Stripe's hosted pages carry the mode in their token.
                f"https://invoice.stripe.com/i/acct_1Fixture/"
                f"{'test' if customer in TEST_MODE_CUSTOMERS else 'live'}_{inv_id}",
            ],
        )

    def attempt(charge_id, inv_id, customer, status, amount, currency, created, decline=None):
        con.execute(
            "INSERT INTO payment_attempts (id, invoice_id, customer_id, created, status, amount, currency, "
            "failure_code, failure_message, decline_code, outcome_type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                charge_id,
                inv_id,
                customer,
                created,
                status,
                amount,
                currency,
                "card_declined" if decline else None,
                "Your card was declined." if decline else None,
                decline,
                "issuer_declined" if decline else "authorized",
            ],
        )

    # José: a paid invoice, then one in dunning ($50.00 at risk) after two failures.
    invoice(
        "in_JosePaid1", "ABCD1234-0001", JOSE, JOSE_SUBSCRIPTION, "paid", "usd", 5000, 5000, 1, now - 40 * day
    )
    attempt("ch_JosePaid1", "in_JosePaid1", JOSE, "succeeded", 5000, "usd", now - 40 * day)
    invoice(
        JOSE_OPEN_INVOICE,
        JOSE_OPEN_NUMBER,
        JOSE,
        JOSE_SUBSCRIPTION,
        "open",
        "usd",
        5000,
        0,
        2,
        now - 10 * day,
        now + 2 * day,
    )
    attempt(
        "ch_JoseFail1", JOSE_OPEN_INVOICE, JOSE, "failed", 5000, "usd", now - 10 * day, "insufficient_funds"
    )
    attempt("ch_JoseFail2", JOSE_OPEN_INVOICE, JOSE, "failed", 5000, "usd", now - 7 * day, "do_not_honor")
    # Zoë (test mode): €108.00 yearly invoice in dunning after one failure.
    invoice(
        "in_ZoeOpen1", "EFGH5678-0001", ZOE, "sub_Zoe1", "open", "eur", 10800, 0, 1, now - 3 * day, now + day
    )
    attempt("ch_ZoeFail1", "in_ZoeOpen1", ZOE, "failed", 10800, "eur", now - 3 * day, "expired_card")
    # Tanaka: ¥1,200 in dunning (zero-decimal currency).
    invoice(
        "in_TanakaOpen1",
        "JPYX0001-0001",
        TANAKA,
        "sub_Tanaka1",
        "open",
        "jpy",
        1200,
        0,
        1,
        now - 2 * day,
        now + 3 * day,
    )
    attempt(
        "ch_TanakaFail1",
        "in_TanakaOpen1",
        TANAKA,
        "failed",
        1200,
        "jpy",
        now - 2 * day,
        "card_velocity_exceeded",
    )
    # Big Risk: $250.00 at risk, the top of the usd queue.
    invoice(
        BIGRISK_OPEN_INVOICE,
        "BIGR0001-0001",
        BIGRISK,
        "sub_Big1",
        "open",
        "usd",
        25000,
        0,
        1,
        now - day,
        now + day,
    )
    attempt(
        "ch_BigFail1", BIGRISK_OPEN_INVOICE, BIGRISK, "failed", 25000, "usd", now - day, "generic_decline"
    )
    # Deleted customer: history only.
    invoice(
        "in_GonePaid1", "GONE0001-0001", DELETED, "sub_Gone1", "paid", "usd", 2000, 2000, 1, now - 130 * day
    )
    attempt("ch_GonePaid1", "in_GonePaid1", DELETED, "succeeded", 2000, "usd", now - 130 * day)
    # Open but never attempted: not in dunning.
    invoice(
        QUIET_OPEN_INVOICE, "QUIE0001-0001", QUIET, None, "open", "usd", 99900, 0, 0, now - day, now + day
    )


def card_expiring_before(renewal: datetime, now: datetime) -> tuple[int, int]:
    """(month, year) of a card valid today whose month ends before `renewal`."""
    assert renewal - now >= timedelta(days=45)
    soon = now + timedelta(days=15)
    return soon.month, soon.year


def _payment_methods(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    month, year = card_expiring_before(now + timedelta(days=JOSE_RENEWAL_DAYS), now)
    rows = [
        # id, customer, type, brand, last4, exp_month, exp_year, wallet
        (JOSE_CARD, JOSE, "card", "visa", "4242", month, year, None),
        (JOSE_OLD_CARD, JOSE, "card", "mastercard", "4444", 1, 2020, None),
        ("pm_BigApple", BIGRISK, "card", "visa", "1881", 3, now.year + 9, "apple_pay"),
        ("pm_ZoeSepa", ZOE, "sepa_debit", None, None, None, None, None),
        ("pm_TanakaOld", TANAKA, "card", "jcb", "0505", 1, 2024, None),
    ]
    con.executemany(
        "INSERT INTO payment_methods (id, customer_id, type, card_brand, card_last4, card_exp_month, "
        "card_exp_year, wallet, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*row, now - timedelta(days=100)) for row in rows],
    )
    for customer, method in ((JOSE, JOSE_OLD_CARD), (BIGRISK, "pm_BigApple"), (ZOE, "pm_ZoeSepa"),
                             (TANAKA, "pm_TanakaOld")):  # fmt: skip
        con.execute("UPDATE customers SET default_payment_method_id = ? WHERE id = ?", [method, customer])
    con.execute(
        "UPDATE subscriptions SET default_payment_method_id = ? WHERE id = ?", [JOSE_CARD, JOSE_SUBSCRIPTION]
    )
    # The card each failed attempt used, as it was then.
    used = {"ch_JoseFail1": JOSE_CARD, "ch_JoseFail2": JOSE_CARD, "ch_BigFail1": "pm_BigApple",
            "ch_TanakaFail1": "pm_TanakaOld"}  # fmt: skip
    for charge, method in used.items():
        con.execute(
            "UPDATE payment_attempts a SET payment_method_id = pm.id, card_brand = pm.card_brand, "
            "card_last4 = pm.card_last4, card_exp_month = pm.card_exp_month, "
            "card_exp_year = pm.card_exp_year "
            "FROM payment_methods pm WHERE pm.id = ? AND a.id = ?",
            [method, charge],
        )


def _sync_runs(con: duckdb.DuckDBPyConnection, now: datetime, synced_minutes_ago: int) -> None:
    finished = now - timedelta(minutes=synced_minutes_ago)
    con.execute(
        "INSERT INTO sync_runs VALUES (1, ?, ?, 'incremental', 'failed', NULL, 0, 3, ?)",
        [
            finished - timedelta(minutes=40),
            finished - timedelta(minutes=39),
            "Stripe answered 401: invalid API key",
        ],
    )
    con.execute(
        "INSERT INTO sync_runs VALUES (2, ?, ?, 'full', 'succeeded', ?, NULL, 120, NULL)",
        [finished - timedelta(minutes=3), finished, '{"customers": 8, "invoices": 7}'],
    )
