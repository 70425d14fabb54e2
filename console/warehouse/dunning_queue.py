"""The dunning work queue: invoices in dunning now, biggest amount at risk first, per currency.

"In dunning now" is console/rules/dunning.py's rule, the same one the customer search,
the customer page's portal link and the finance tables use. Amounts at risk are never
compared or added across currencies: the queue is ordered within each currency.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from console.display.money import format_money
from console.display.text import printable, utc_text

QUEUE_LIMIT_PER_CURRENCY = 500

# Built once per published snapshot (warehouse_views/derived.py; console/warehouse/snapshots.py
# makes it readable here): the queue reads a few thousand rows instead of every attempt.
DUNNING_TABLE = "memory.main.dunning_invoices"


def dunning_queue(
    con: duckdb.DuckDBPyConnection, limit_per_currency: int = QUEUE_LIMIT_PER_CURRENCY
) -> pd.DataFrame:
    """The queue, raw: one row per invoice, the top `limit_per_currency` of each currency.

    Columns: invoice_id, number, customer_id, email, name, deleted, currency, amount_remaining,
    attempt_count, failures, first_failure, next_payment_attempt, last_decline,
    hosted_invoice_url, invoices_in_currency, at_risk_in_currency.
    """
    return con.execute(
        f"""
        WITH queue AS (FROM {DUNNING_TABLE}),
        ranked AS (
            SELECT *, count(*) OVER per_currency AS invoices_in_currency,
                   sum(amount_remaining) OVER per_currency AS at_risk_in_currency
            FROM queue
            WINDOW per_currency AS (PARTITION BY currency)
            QUALIFY row_number() OVER (PARTITION BY currency ORDER BY amount_remaining DESC, id) <= ?
        )
        SELECT r.id AS invoice_id, r.number, r.customer_id, c.email, c.name,
               coalesce(c.deleted, false) AS deleted, r.currency, r.amount_remaining,
               r.attempt_count, r.failures, r.first_failure,
               r.next_payment_attempt, r.last_decline, r.hosted_invoice_url,
               r.invoices_in_currency, r.at_risk_in_currency
        FROM ranked r LEFT JOIN customers c ON c.id = r.customer_id
        ORDER BY r.currency, r.amount_remaining DESC, r.id
        """,  # noqa: S608 -- only constant SQL is formatted in
        [limit_per_currency],
    ).df()


def currency_summary(queue: pd.DataFrame) -> pd.DataFrame:
    """Per currency: invoices in dunning and the total at risk (never added across currencies)."""
    if queue.empty:
        return pd.DataFrame(columns=["Currency", "Invoices in dunning", "At risk"])
    per = queue.groupby("currency", as_index=False).first()
    per = per.sort_values("invoices_in_currency", ascending=False)
    return pd.DataFrame(
        {
            "Currency": per["currency"].str.upper(),
            "Invoices in dunning": per["invoices_in_currency"].astype(int),
            "At risk": [
                format_money(a, c) for a, c in zip(per["at_risk_in_currency"], per["currency"], strict=True)
            ],
        }
    )


def last_link_per_customer(links: pd.DataFrame) -> dict[str, datetime]:
    """The latest `made_at` per customer of a console.ops.audit.links_made frame."""
    if links.empty:
        return {}
    latest = links.groupby("customer_id")["made_at"].max()
    return {customer: made_at.to_pydatetime() for customer, made_at in latest.items()}


def queue_table(queue: pd.DataFrame, links_sent: dict[str, datetime], now: datetime) -> pd.DataFrame:
    """The queue as shown: formatted money, UTC dates, days in dunning, card-link column.

    `links_sent`: when a card-update link was last made per customer (`last_link_per_customer`).
    """
    rows = []
    for r in queue.itertuples(index=False):
        sent = links_sent.get(r.customer_id)
        # A link made before this invoice first failed was about something else.
        sent_for_this = sent is not None and sent >= r.first_failure
        rows.append(
            {
                "Customer id": r.customer_id,
                "Email": printable(r.email),
                "Name": printable(r.name),
                "Invoice": printable(r.number) or r.invoice_id,
                "Currency": r.currency.upper(),
                "At risk": format_money(r.amount_remaining, r.currency),
                "Attempts": 0 if pd.isna(r.attempt_count) else int(r.attempt_count),
                "Failed attempts": int(r.failures),
                "Next retry (UTC)": utc_text(r.next_payment_attempt),
                "Last decline": printable(r.last_decline),
                "Days in dunning": (now - r.first_failure).days,
                "Card-update link sent (UTC)": utc_text(sent) if sent_for_this else "",
            }
        )
    return pd.DataFrame(rows, columns=QUEUE_COLUMNS)


QUEUE_COLUMNS = [
    "Customer id",
    "Email",
    "Name",
    "Invoice",
    "Currency",
    "At risk",
    "Attempts",
    "Failed attempts",
    "Next retry (UTC)",
    "Last decline",
    "Days in dunning",
    "Card-update link sent (UTC)",
]
