"""A warehouse and an ops store that hold the edge cases of the shared business rules.

- in dunning: an automatically collected open invoice with a failed attempt (in dunning);
  a `send_invoice` open invoice with a failed attempt (never in dunning); an automatic
  invoice paid after a failure (entered dunning, not in it now); an open automatic one
  with no failure (not in dunning).
- link made: one customer's only card-update link was written to the demo outbox
  folder (`written`), another's was emailed, a third's was refused.
- MRR: a yearly price whose month is a half minor unit (1,806 / 12 = 150.5) and a
  weekly one (700 * 52 / 12 = 3,033.33...).

`EXPECTED_*` are worked out by hand from the rows below, not by the console's code.
"""

from __future__ import annotations

from pathlib import Path

from tests.metrics.books import Books, write_audit

# invoice id -> (customer, collection method, status, has a failed attempt)
INVOICES = {
    "in_auto_open": ("cus_auto", "charge_automatically", "open", True),
    "in_manual_open": ("cus_manual", "send_invoice", "open", True),
    "in_auto_paid": ("cus_recovered", "charge_automatically", "paid", True),
    "in_auto_clean": ("cus_clean", "charge_automatically", "open", False),
}
EXPECTED_IN_DUNNING = {"in_auto_open"}
EXPECTED_ENTERED_DUNNING = {"in_auto_open", "in_auto_paid"}
EXPECTED_CUSTOMERS_IN_DUNNING = {"cus_auto"}

# (at, customer, outcome) of card-update links
AUDIT = [
    ("2025-03-03T09:00:00Z", "cus_recovered", "written"),
    ("2025-03-03T09:00:00Z", "cus_auto", "emailed"),
    ("2025-03-03T09:00:00Z", "cus_manual", "refused"),
]
EXPECTED_LINKED_CUSTOMERS = {"cus_recovered", "cus_auto"}
# in_auto_paid failed on 03-02, got a written link on 03-03 and was paid on 03-05.
EXPECTED_PORTAL_RECOVERIES = {"in_auto_paid"}

# subscription -> (price, MRR shown, rounded half away from zero)
EXPECTED_MRR = {"sub_yearly": "$1.51", "sub_weekly": "$30.33"}
# Both are paid-active on 2025-02-01: 150.5 + 3,033.33... = 3,183.83..., rounded once.
EXPECTED_MRR_FEBRUARY = 3184


def build(warehouse: Path, ops_db: Path) -> None:
    b = Books(warehouse)
    for customer in ("cus_auto", "cus_manual", "cus_recovered", "cus_clean", "cus_mrr"):
        b.customer(customer)
    for invoice, (customer, method, status, failed) in INVOICES.items():
        paid = status == "paid"
        b.invoice(
            invoice, customer, "usd", status, 5000, amount_paid=5000 if paid else 0,
            paid_at="2025-03-05" if paid else None, collection_method=method, created="2025-03-01",
        )  # fmt: skip
        if failed:
            b.attempt(invoice, customer, "usd", "2025-03-02", "failed", 5000, decline_code="expired_card")
        if paid:
            b.attempt(invoice, customer, "usd", "2025-03-05", "succeeded", 5000)
    b.conn.execute("UPDATE invoices SET hosted_invoice_url = 'https://invoice.example/' || id")
    b.price("usd_year_half", "usd", 1806, "year")
    b.price("usd_week", "usd", 700, "week")
    b.subscription("sub_yearly", "cus_mrr", "usd", "2025-01-01", "usd_year_half")
    b.subscription("sub_weekly", "cus_mrr", "usd", "2025-01-02", "usd_week")
    b.close()
    write_audit(ops_db, AUDIT)
