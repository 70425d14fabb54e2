"""Dunning, as docs/METRICS.md defines it.

An invoice **entered dunning** when it is collected automatically
(`charge_automatically`) and has at least one failed payment attempt; it is **in
dunning now** while it is also still `open`. A `send_invoice` invoice with a failed
attempt is never in dunning: the customer pays it by hand, so Stripe's retries and a
card-update link do not apply.

The rule is one SQL query, narrowed by the caller with a constant predicate on
`invoices` (values bound as parameters): the work queue, the customer search, the
portal link's dunning invoice and the finance tables all read it.
"""

from __future__ import annotations

COLLECTION_METHOD = "charge_automatically"
FAILED = "failed"
OPEN = "open"
# Invoice statuses that end dunning, and how (docs/METRICS.md: recovered or lost).
RECOVERED_STATUSES = ("paid",)
LOST_STATUSES = ("uncollectible", "void")


def invoices_entered_dunning(invoices_where: str = "TRUE") -> str:
    """SQL: every invoice that entered dunning and matches `invoices_where`, with its failures.

    `invoices_where` is a constant SQL predicate over the `invoices` table's own columns
    (e.g. "status = 'open'" or "customer_id = ?"). Columns: the invoice's id, number,
    customer_id, status, currency, amount_due, amount_paid, amount_remaining, attempt_count,
    next_payment_attempt, created, paid_at, hosted_invoice_url; then failures (count of failed
    attempts), first_failure (when the first failed), first_decline (its decline code, else its
    failure code, else 'unknown') and last_decline (the latest failure's code).
    """
    # Narrow the invoices first, then read only their failed attempts: a few percent of all
    # attempts for the work queue. NOT MATERIALIZED: the finance tables narrow nothing, and
    # for them the failures are grouped without that filter (a hash set of every invoice
    # id would cost more than the whole report: 1.3 s against 0.5 s on 10M invoices).
    narrowed_only = "" if invoices_where == "TRUE" else "AND invoice_id IN (SELECT id FROM narrowed)"
    return f"""
        WITH narrowed AS NOT MATERIALIZED (
            SELECT id, number, customer_id, status, currency, amount_due, amount_paid, amount_remaining,
                   attempt_count, next_payment_attempt, created, paid_at, hosted_invoice_url
            FROM invoices WHERE collection_method = '{COLLECTION_METHOD}' AND ({invoices_where})
        ), failures AS (
            SELECT invoice_id, count(*) AS failures, min(created) AS first_failure,
                   arg_min(coalesce(decline_code, failure_code, 'unknown'), (created, id)) AS first_decline,
                   arg_max(coalesce(decline_code, failure_code), (created, id)) AS last_decline
            FROM payment_attempts
            WHERE status = '{FAILED}' {narrowed_only}
            GROUP BY invoice_id
        )
        SELECT n.*, f.failures, f.first_failure, f.first_decline, f.last_decline
        FROM narrowed n JOIN failures f ON f.invoice_id = n.id
    """  # noqa: S608 -- constants of this module and the caller's constant predicate


def invoices_in_dunning(invoices_where: str = "TRUE") -> str:
    """SQL: the invoices in dunning now (entered dunning and still open) matching `invoices_where`."""
    return invoices_entered_dunning(f"status = '{OPEN}' AND ({invoices_where})")


def is_in_dunning(status: str | None, collection_method: str | None, failed_attempts: int) -> bool:
    """The same rule for one invoice seen live in Stripe (not in the warehouse)."""
    return status == OPEN and collection_method == COLLECTION_METHOD and failed_attempts > 0
