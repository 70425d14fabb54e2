"""Dunning outcomes per month of first failure and currency (docs/METRICS.md), and what the
Dunning outcomes page shows beside them: the attempt that recovered an invoice, days to
payment, first decline codes, and recoveries after a portal link.

Which invoices entered dunning is console/rules/dunning.py's rule.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from console.rules.dunning import LOST_STATUSES, invoices_entered_dunning
from console.warehouse.periods import month_start, rate

DUNNING_COLUMNS = [
    "month",
    "currency",
    "entered",
    "recovered",
    "lost",
    "pending",
    "recovery_rate",
    "amount_recovered",
    "amount_lost",
    "amount_pending",
]
PORTAL_RECOVERY_DAYS = 7

# Invoices that entered dunning since $since, with their first failed attempt.
_DUNNING = f"""
dunning AS (
    SELECT id, number, customer_id, currency, status, amount_due, amount_paid, amount_remaining, paid_at,
           first_failure AS failed_at, first_decline AS decline_code,
           date_trunc('month', first_failure) AS month_start
    FROM ({invoices_entered_dunning()})
    WHERE first_failure >= $since
)
"""  # noqa: S608 - the rule's constant SQL

_DUNNING_SQL = f"""
WITH {_DUNNING}
SELECT strftime(month_start, '%Y-%m') AS month, currency,
       count(*)::BIGINT AS entered,
       count_if(status = 'paid')::BIGINT AS recovered,
       count_if(status IN {LOST_STATUSES})::BIGINT AS lost,
       count_if(status = 'open')::BIGINT AS pending,
       coalesce(sum(amount_paid) FILTER (WHERE status = 'paid'), 0)::BIGINT AS amount_recovered,
       coalesce(sum(CASE status WHEN 'uncollectible' THEN amount_remaining WHEN 'void' THEN amount_due END),
                0)::BIGINT AS amount_lost,
       coalesce(sum(amount_remaining) FILTER (WHERE status = 'open'), 0)::BIGINT AS amount_pending
FROM dunning
GROUP BY month_start, currency
ORDER BY month_start, currency
"""  # noqa: S608 - composed from constants of this module; values are bound parameters


def dunning_summary(table: pd.DataFrame) -> dict[str, int | float]:
    """Totals of a (one-currency) dunning table; the rate from the summed counts (NaN when none settled)."""
    totals: dict[str, int | float] = {
        column: int(table[column].sum()) for column in DUNNING_COLUMNS[2:] if column != "recovery_rate"
    }
    totals["recovery_rate"] = rate(totals["recovered"], totals["recovered"] + totals["lost"])
    return totals


def _since_param(since: str | None) -> dict[str, datetime]:
    return {"since": datetime(1, 1, 1) if since is None else month_start(since)}


def dunning_table(conn: duckdb.DuckDBPyConnection, since: str | None = None) -> pd.DataFrame:
    """Dunning outcomes per month of first failure and currency (docs/METRICS.md)."""
    table = conn.execute(_DUNNING_SQL, _since_param(since)).df()
    denominator = table["recovered"] + table["lost"]
    table["recovery_rate"] = (table["recovered"] / denominator.where(denominator > 0)).astype("float64")
    return table[DUNNING_COLUMNS].reset_index(drop=True)


# Recovered invoices: attempt number of the first successful charge after the first
# failure (1 = first retry; NULL when paid without one, e.g. out of band) and whole
# days from the first failure to payment.
_RECOVERIES_SQL = f"""
WITH {_DUNNING},
recovered AS (
    SELECT id, month_start, currency, amount_paid, paid_at, failed_at FROM dunning WHERE status = 'paid'
),
succeeded AS (
    SELECT r.id, min(pa.created) AS succeeded_at
    FROM recovered r JOIN payment_attempts pa ON pa.invoice_id = r.id
    WHERE pa.status = 'succeeded' AND pa.created > r.failed_at
    GROUP BY r.id
),
numbered AS (
    SELECT r.id, count(pa.id)::BIGINT AS attempt
    FROM recovered r JOIN succeeded s USING (id)
    JOIN payment_attempts pa
      ON pa.invoice_id = r.id AND pa.created > r.failed_at AND pa.created <= s.succeeded_at
    GROUP BY r.id
)
SELECT strftime(r.month_start, '%Y-%m') AS month, r.currency, n.attempt,
       floor(epoch(coalesce(r.paid_at, s.succeeded_at) - r.failed_at) / 86400)::BIGINT AS days_to_payment,
       count(*)::BIGINT AS invoices, coalesce(sum(r.amount_paid), 0)::BIGINT AS amount_paid
FROM recovered r LEFT JOIN succeeded s USING (id) LEFT JOIN numbered n USING (id)
GROUP BY ALL
ORDER BY month, r.currency, n.attempt, days_to_payment
"""  # noqa: S608 - composed from constants of this module; values are bound parameters


def recoveries(conn: duckdb.DuckDBPyConnection, since: str | None = None) -> pd.DataFrame:
    """Recovered invoices counted by (month, currency, attempt, days_to_payment).

    attempt: charge attempts after the first failure up to the successful one
    (1 = paid on the first retry; missing when paid without a charge attempt).
    days_to_payment: whole days from the first failure to `paid_at`.
    """
    return (
        conn.execute(_RECOVERIES_SQL, _since_param(since))
        .df()
        .astype({"attempt": "Int64", "days_to_payment": "Int64"})
    )


_DECLINES_SQL = f"""
WITH {_DUNNING}
SELECT strftime(month_start, '%Y-%m') AS month, currency, decline_code, count(*)::BIGINT AS invoices,
       count_if(status = 'paid')::BIGINT AS recovered
FROM dunning GROUP BY ALL ORDER BY month, currency, invoices DESC, decline_code
"""  # noqa: S608 - composed from constants of this module; values are bound parameters


def first_failure_declines(conn: duckdb.DuckDBPyConnection, since: str | None = None) -> pd.DataFrame:
    """Decline codes of first failed attempts (decline_code, else failure_code, else 'unknown')."""
    return conn.execute(_DECLINES_SQL, _since_param(since)).df()


_PORTAL_SQL = f"""
WITH {_DUNNING}
SELECT strftime(d.month_start, '%Y-%m') AS month, d.currency, d.id AS invoice_id, d.number, d.customer_id,
       d.amount_paid, d.failed_at, max(l.made_at) AS link_sent_at, d.paid_at
FROM dunning d JOIN portal_links l ON l.customer_id = d.customer_id
WHERE d.status = 'paid' AND l.made_at >= d.failed_at AND l.made_at <= d.paid_at
  AND d.paid_at <= l.made_at + INTERVAL {PORTAL_RECOVERY_DAYS} DAY
GROUP BY ALL
ORDER BY month, d.currency, d.paid_at
"""  # noqa: S608 - composed from constants of this module; values are bound parameters


def portal_recoveries(
    conn: duckdb.DuckDBPyConnection, links: pd.DataFrame, since: str | None = None
) -> pd.DataFrame:
    """Invoices in dunning paid within 7 days after a portal link was made for their customer.

    Only links made after the invoice's first failure count; `links` is
    `console.ops.audit.links_made(...)`. One row per invoice, with the latest such link.
    """
    conn.register("portal_links", links[["customer_id", "made_at"]])
    try:
        return conn.execute(_PORTAL_SQL, _since_param(since)).df()
    finally:
        conn.unregister("portal_links")
