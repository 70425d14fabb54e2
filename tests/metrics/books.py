"""Hand-built warehouses for the finance metrics tests.

`Books` writes rows into a DuckDB file made from sync/schema.sql, filling the
columns a test does not care about. `build_year_2025` is the shared scenario; the
expected figures, worked out by hand, are in test_churn.py and test_dunning.py.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from console.ops.store import OpsStore
from settings import ROOT

SCHEMA = (ROOT / "sync" / "schema.sql").read_text()


def ts(text: str) -> datetime:
    """'2025-03-01' or '2025-03-01 10:00' -> naive UTC datetime."""
    return datetime.fromisoformat(text)


class Books:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = duckdb.connect(str(path))
        self.conn.execute(SCHEMA)
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n:04d}"

    def close(self) -> None:
        self.conn.close()

    def customer(self, id: str, deleted: bool = False) -> str:
        self.conn.execute(
            "INSERT INTO customers (id, email, name, created, deleted) VALUES (?, ?, ?, ?, ?)",
            [id, f"{id}@example.com", id, ts("2024-12-01"), deleted],
        )
        return id

    def price(self, id: str, currency: str, unit_amount: int, interval: str, count: int = 1) -> str:
        self.conn.execute(
            "INSERT INTO prices (id, product_id, currency, unit_amount, recurring_interval, "
            "recurring_interval_count, active) VALUES (?, 'prod_1', ?, ?, ?, ?, TRUE)",
            [id, currency, unit_amount, interval, count],
        )
        return id

    def subscription(
        self,
        id: str,
        customer: str,
        currency: str,
        start: str,
        price: str,
        quantity: int = 1,
        *,
        ended: str | None = None,
        reason: str | None = None,
        status: str | None = None,
        trial: tuple[str, str] | None = None,
        cancel_at_period_end: bool = False,
        canceled_at: str | None = None,
    ) -> str:
        status = status or ("canceled" if ended else "active")
        self.conn.execute(
            "INSERT INTO subscriptions (id, customer_id, status, collection_method, currency, created, "
            "start_date, trial_start, trial_end, cancel_at_period_end, canceled_at, ended_at, "
            "cancellation_reason) VALUES (?, ?, ?, 'charge_automatically', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                id, customer, status, currency, ts(start), ts(start),
                ts(trial[0]) if trial else None, ts(trial[1]) if trial else None,
                cancel_at_period_end, ts(canceled_at or ended) if (canceled_at or ended) else None,
                ts(ended) if ended else None, reason,
            ],
        )  # fmt: skip
        self.conn.execute(
            "INSERT INTO subscription_items (id, subscription_id, price_id, quantity) VALUES (?, ?, ?, ?)",
            [self._id("si"), id, price, quantity],
        )
        return id

    def invoice(
        self,
        id: str,
        customer: str,
        currency: str,
        status: str,
        amount_due: int,
        *,
        amount_paid: int = 0,
        amount_remaining: int | None = None,
        paid_at: str | None = None,
        collection_method: str = "charge_automatically",
        created: str = "2025-01-01",
        voided_at: str | None = None,
        marked_uncollectible_at: str | None = None,
    ) -> str:
        if amount_remaining is None:
            amount_remaining = amount_due - amount_paid
        self.conn.execute(
            "INSERT INTO invoices (id, number, customer_id, status, collection_method, currency, amount_due, "
            "amount_paid, amount_remaining, created, paid_at, voided_at, marked_uncollectible_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                id, f"N-{id}", customer, status, collection_method, currency, amount_due, amount_paid,
                amount_remaining, ts(created), ts(paid_at) if paid_at else None,
                ts(voided_at) if voided_at else None,
                ts(marked_uncollectible_at) if marked_uncollectible_at else None,
            ],
        )  # fmt: skip
        return id

    def attempt(
        self,
        invoice: str,
        customer: str,
        currency: str,
        at: str,
        status: str,
        amount: int,
        decline_code: str | None = None,
        failure_code: str | None = None,
    ) -> None:
        if status == "failed" and failure_code is None and decline_code is not None:
            failure_code = "card_declined"
        self.conn.execute(
            "INSERT INTO payment_attempts (id, invoice_id, customer_id, created, status, amount, currency, "
            "failure_code, decline_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [self._id("ch"), invoice, customer, ts(at), status, amount, currency, failure_code, decline_code],
        )


def write_audit(ops_db: Path, rows: list[tuple[str, str, str]]) -> None:
    """Audit rows (at ISO text, customer_id, outcome) in a fresh ops store."""
    with OpsStore(ops_db).transaction() as conn:
        conn.executemany(
            "INSERT INTO audit_log (at, agent, role, customer_id, flow, delivery, stripe_session_id, "
            "outcome) VALUES (?, 'sam', 'support', ?, 'payment_method_update', 'email', 'bps_1', ?)",
            rows,
        )


def build_year_2025(path: Path) -> Path:
    """The shared scenario: every subscription ended in 2025, so figures do not depend on today."""
    b = Books(path)
    for customer in ("cus_a", "cus_b", "cus_b2", "cus_c", "cus_f", "cus_g", "cus_g2", "cus_j", "cus_k"):
        b.customer(customer)
    b.customer("cus_e", deleted=True)  # marked deleted; cus_d has no customer row at all
    b.price("usd_month", "usd", 1000, "month")
    b.price("usd_quarter", "usd", 3000, "month", 3)
    b.price("usd_quarter_small", "usd", 1000, "month", 3)
    b.price("usd_year", "usd", 10000, "year")
    b.price("usd_week", "usd", 700, "week")
    b.price("eur_month", "eur", 2000, "month")
    b.price("eur_year", "eur", 30, "year")
    b.price("jpy_year", "jpy", 10000, "year")

    # Churn: the subscriptions
    # cus_a: two subscriptions that overlap; the customer counts once.
    b.subscription("sub_a1", "cus_a", "usd", "2025-01-10", "usd_month", ended="2025-04-20",
                   reason="cancellation_requested")  # fmt: skip
    b.subscription(
        "sub_a2", "cus_a", "usd", "2025-02-05", "usd_year", ended="2025-06-10", reason="payment_failed"
    )
    # cus_b: canceled during its trial (never paid), though start_date lies before 02-01.
    b.subscription("sub_b", "cus_b", "usd", "2025-01-20", "usd_month", ended="2025-02-10",
                   trial=("2025-01-20", "2025-02-19"), reason="cancellation_requested")  # fmt: skip
    # cus_b2: trial converted; paid from 03-10, not from start_date 02-10. Quarterly, quantity 2.
    b.subscription("sub_b2", "cus_b2", "usd", "2025-02-10", "usd_quarter", 2, ended="2025-05-15",
                   trial=("2025-02-10", "2025-03-10"), reason="cancellation_requested")  # fmt: skip
    # cus_c: weekly; scheduled to cancel in February, ends at the first instant of April.
    b.subscription("sub_c", "cus_c", "usd", "2025-01-01 00:00", "usd_week", ended="2025-04-01 00:00",
                   cancel_at_period_end=True, canceled_at="2025-02-15",
                   reason="cancellation_requested")  # fmt: skip
    # cus_d: no customer row (deleted in Stripe); disputed.
    b.subscription("sub_d", "cus_d", "usd", "2025-01-15", "usd_month", 3, ended="2025-03-20",
                   reason="payment_disputed")  # fmt: skip
    # cus_e: customer row marked deleted; no reason recorded (counts as voluntary).
    b.subscription("sub_e", "cus_e", "usd", "2025-02-20", "usd_quarter_small", ended="2025-05-02")
    # cus_f: never left incomplete.
    b.subscription(
        "sub_f", "cus_f", "usd", "2025-02-25", "usd_month", ended="2025-03-02", status="incomplete_expired"
    )
    # cus_k: leaves in February, comes back in March, leaves again in April.
    b.subscription("sub_k1", "cus_k", "usd", "2025-01-05", "usd_month", ended="2025-02-10",
                   reason="cancellation_requested")  # fmt: skip
    b.subscription(
        "sub_k2", "cus_k", "usd", "2025-03-20", "usd_month", ended="2025-04-10", reason="payment_failed"
    )
    # eur beside usd; a yearly price of 30 cents is 2.5 cents a month (a half to round).
    b.subscription("sub_g", "cus_g", "eur", "2025-02-01 00:00", "eur_month", ended="2025-03-15",
                   reason="payment_failed")  # fmt: skip
    b.subscription("sub_g2", "cus_g2", "eur", "2025-01-20", "eur_year", ended="2025-03-25",
                   reason="cancellation_requested")  # fmt: skip
    # jpy (zero-decimal): ¥10,000 a year.
    b.subscription("sub_j", "cus_j", "jpy", "2025-03-10", "jpy_year", ended="2025-05-10",
                   reason="cancellation_requested")  # fmt: skip

    # Dunning: the invoices and their charge attempts
    # Paid on the third retry, 11 days and 1 hour after the first failure.
    b.invoice("in_paid3", "cus_a", "usd", "paid", 1000, amount_paid=1000, paid_at="2025-03-12 11:00")
    b.attempt("in_paid3", "cus_a", "usd", "2025-03-01 10:00", "failed", 1000, "insufficient_funds")
    b.attempt("in_paid3", "cus_a", "usd", "2025-03-04 10:00", "failed", 1000, "do_not_honor")
    b.attempt("in_paid3", "cus_a", "usd", "2025-03-08 10:00", "failed", 1000, "insufficient_funds")
    b.attempt("in_paid3", "cus_a", "usd", "2025-03-12 11:00", "succeeded", 1000)
    # Voided after two failures (no decline code: the failure code stands in); remaining 0, due 3000.
    b.invoice("in_void", "cus_d", "usd", "void", 3000, amount_remaining=0)
    b.attempt("in_void", "cus_d", "usd", "2025-03-20 08:00", "failed", 3000, None, "expired_card")
    b.attempt("in_void", "cus_d", "usd", "2025-03-23 08:00", "failed", 3000, None, "expired_card")
    # Uncollectible after a partial payment: 4000 of 5000 remain. Deleted customer.
    b.invoice("in_uncollectible", "cus_e", "usd", "uncollectible", 5000, amount_paid=1000)
    b.attempt("in_uncollectible", "cus_e", "usd", "2025-04-02", "failed", 5000, "do_not_honor")
    # Still pending.
    b.invoice("in_pending", "cus_k", "usd", "open", 2500)
    b.attempt("in_pending", "cus_k", "usd", "2025-04-28", "failed", 2500, "insufficient_funds")
    b.invoice("in_pending2", "cus_k", "usd", "open", 700)
    b.attempt("in_pending2", "cus_k", "usd", "2025-05-03", "failed", 700)
    # Zero-amount invoice: nothing to charge, never in dunning.
    b.invoice("in_zero", "cus_c", "usd", "paid", 0, paid_at="2025-03-01")
    # Paid on the first attempt: never in dunning.
    b.invoice("in_ok", "cus_a", "usd", "paid", 1000, amount_paid=1000, paid_at="2025-02-01")
    b.attempt("in_ok", "cus_a", "usd", "2025-02-01", "succeeded", 1000)
    # Sent for manual payment: a failed card on the hosted page is not dunning.
    b.invoice("in_send", "cus_b2", "usd", "open", 4000, collection_method="send_invoice")
    b.attempt("in_send", "cus_b2", "usd", "2025-03-05", "failed", 4000, "insufficient_funds")
    # Failed in February, paid out of band (no successful charge) 5 days later.
    b.invoice("in_oob", "cus_b2", "usd", "paid", 2000, amount_paid=2000, paid_at="2025-03-02")
    b.attempt("in_oob", "cus_b2", "usd", "2025-02-25", "failed", 2000, "insufficient_funds")
    # eur: recovered on the first retry, 3 days later, two days after a portal link.
    b.invoice("in_eur", "cus_g", "eur", "paid", 2000, amount_paid=2000, paid_at="2025-03-13 09:00")
    b.attempt("in_eur", "cus_g", "eur", "2025-03-10 09:00", "failed", 2000, "insufficient_funds")
    b.attempt("in_eur", "cus_g", "eur", "2025-03-13 09:00", "succeeded", 2000)
    # jpy: lost, ¥1,500.
    b.invoice("in_jpy", "cus_j", "jpy", "uncollectible", 1500)
    b.attempt("in_jpy", "cus_j", "jpy", "2025-04-15", "failed", 1500, "generic_decline")
    b.close()
    return path


# Portal links of the scenario: (at, customer, outcome).
AUDIT_2025 = [
    ("2025-02-20T10:00:00Z", "cus_b2", "emailed"),  # before in_oob failed: does not count
    ("2025-02-26T10:00:00Z", "cus_b2", "failed"),  # not sent
    ("2025-03-02T10:00:00Z", "cus_a", "created"),  # 10 days before in_paid3 was paid: too early
    ("2025-03-05T10:00:00Z", "cus_a", "refused"),  # not sent
    ("2025-03-06T12:00:00Z", "cus_a", "queued"),  # in_paid3 paid 03-12 11:00: within 7 days
    ("2025-03-11T10:00:00Z", "cus_g", "emailed"),  # in_eur paid 03-13 09:00: within 7 days
]
