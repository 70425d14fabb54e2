"""The dunning work queue: invoices in dunning now, biggest amount at risk first, per currency.

An invoice is in dunning now when it is open, charged automatically, and has at least
one failed payment attempt (the METRICS.md definition of "entered dunning", still
unresolved). Amounts at risk are never compared or added across currencies: the
queue is ordered within each currency.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from console import ops
from console.audit import LINKS_MADE
from console.display import printable, utc_text
from console.money import format_money

QUEUE_LIMIT_PER_CURRENCY = 500

# Invoices in dunning now, with their failure history. Shared with the customer search's
# "in dunning" filter so that both agree on what dunning means.
DUNNING_INVOICES = """
    SELECT i.id, i.number, i.customer_id, i.currency, i.amount_remaining, i.attempt_count,
           i.next_payment_attempt, i.hosted_invoice_url,
           f.failures, f.first_failure, f.last_decline
    FROM invoices i
    JOIN (
        -- Aggregate only the failures of open invoices (a few percent of all attempts).
        SELECT invoice_id, count(*) AS failures, min(created) AS first_failure,
               arg_max(coalesce(decline_code, failure_code), created) AS last_decline
        FROM payment_attempts
        WHERE status = 'failed' AND invoice_id IN (
            SELECT id FROM invoices WHERE status = 'open' AND collection_method = 'charge_automatically'
        )
        GROUP BY invoice_id
    ) f ON f.invoice_id = i.id
    WHERE i.status = 'open' AND i.collection_method = 'charge_automatically'
"""

# Portal links that let the customer update their card, as the audit log records them.
_CARD_LINKS_SQL = f"""
    SELECT customer_id, max(at) AS last_sent FROM audit_log
    WHERE flow = 'payment_method_update' AND outcome IN ({", ".join("?" for _ in LINKS_MADE)})
      AND customer_id IN (SELECT value FROM json_each(?))
    GROUP BY customer_id
"""  # noqa: S608 (placeholders only)


# Computed once per published snapshot (console/snapshots.py): the queue and the customer
# search's "in dunning" filter then read a few thousand rows instead of every attempt.
DUNNING_TABLE = "memory.main.dunning_invoices"


def build_dunning_table(con: duckdb.DuckDBPyConnection) -> None:
    """Materialise the invoices in dunning of the attached snapshot (once per snapshot)."""
    con.execute(f"CREATE OR REPLACE TABLE {DUNNING_TABLE} AS {DUNNING_INVOICES}")


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


def card_links_sent(ops_db: Path, customer_ids: list[str]) -> dict[str, datetime]:
    """When a card-update portal link was last made for each of these customers (UTC)."""
    if not customer_ids:
        return {}
    conn = ops.connect(ops_db)
    try:
        rows = conn.execute(_CARD_LINKS_SQL, [*LINKS_MADE, json.dumps(customer_ids)]).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    return {row["customer_id"]: _parse_ops_time(row["last_sent"]) for row in rows}


def _parse_ops_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


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


def queue_table(queue: pd.DataFrame, links_sent: dict[str, datetime], now: datetime) -> pd.DataFrame:
    """The queue as shown: formatted money, UTC dates, days in dunning, card-link column."""
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
                "Attempts": int(r.attempt_count or 0),
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
