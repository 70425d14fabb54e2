"""The finance invoice list: every invoice, filtered by status, created date, currency and amount.

Amount bounds are in the chosen currency's main unit (12.34 usd, 1200 jpy) and are
converted to minor units with that currency's exponent; without a currency there is no
amount filter, since amounts in different currencies do not compare.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import duckdb
import pandas as pd

from console.display.money import decimals, format_money
from console.display.tables import csv_text_of_chunks
from console.display.text import printable, utc_text
from console.warehouse.customers import safe_link

INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
ROW_LIMIT = 5000
TABLE_COLUMNS = [
    "Number",
    "Invoice id",
    "Customer id",
    "Email",
    "Status",
    "Currency",
    "Amount due",
    "Amount paid",
    "Remaining",
    "Created (UTC)",
    "Paid (UTC)",
    "Hosted invoice",
]
# The CSV adds machine-readable amounts: integer minor units beside the currency code.
CSV_EXTRA_COLUMNS = ["amount_due_minor", "amount_paid_minor", "amount_remaining_minor"]


@dataclass(frozen=True)
class InvoiceFilter:
    statuses: tuple[str, ...] = ()
    created_from: date | None = None  # UTC date, inclusive
    created_to: date | None = None  # UTC date, inclusive
    currency: str | None = None
    amount_min: Decimal | None = None  # main units of `currency`
    amount_max: Decimal | None = None


@dataclass(frozen=True)
class InvoicePage:
    rows: pd.DataFrame  # TABLE_COLUMNS + CSV_EXTRA_COLUMNS
    total: int  # invoices matching, of which at most ROW_LIMIT are in rows
    totals: pd.DataFrame  # per currency: count and sums of the matching invoices


def invoice_currencies(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in con.execute("SELECT DISTINCT currency FROM invoices ORDER BY 1").fetchall()]


def to_minor(amount: Decimal, currency: str) -> int:
    return int((amount.scaleb(decimals(currency))).to_integral_value())


def _where(f: InvoiceFilter) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if f.statuses:
        clauses.append("i.status IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(f.statuses))
    if f.created_from:
        clauses.append("i.created >= ?")
        params.append(datetime.combine(f.created_from, time()))
    if f.created_to:
        clauses.append("i.created < ?")
        params.append(datetime.combine(f.created_to + timedelta(days=1), time()))
    if f.currency:
        clauses.append("i.currency = ?")
        params.append(f.currency)
        if f.amount_min is not None:
            clauses.append("i.amount_due >= ?")
            params.append(to_minor(f.amount_min, f.currency))
        if f.amount_max is not None:
            clauses.append("i.amount_due <= ?")
            params.append(to_minor(f.amount_max, f.currency))
    return " AND ".join(clauses) or "true", params


def _rows_sql(where: str, limited: bool) -> str:
    """SQL: the invoices matching `where` (constant fragments of _where), newest first, with the
    customer's email; the newest `?` of them when `limited`."""
    return f"""
        WITH page AS MATERIALIZED (
            SELECT i.id, i.number, i.customer_id, i.status, i.currency, i.amount_due, i.amount_paid,
                   i.amount_remaining, i.created, i.paid_at, i.hosted_invoice_url, i.customer_email
            FROM invoices i WHERE {where} ORDER BY i.created DESC, i.id {"LIMIT ?" if limited else ""}
        )
        SELECT p.*, coalesce(c.email, p.customer_email) FROM page p
        LEFT JOIN customers c ON c.id = p.customer_id
        ORDER BY p.created DESC, p.id
    """  # noqa: S608


def _rows(found: list[tuple]) -> pd.DataFrame:
    """Rows of `_rows_sql` as the page and the CSV show them (TABLE_COLUMNS + CSV_EXTRA_COLUMNS)."""
    return pd.DataFrame(
        [
            (
                printable(number), iid, customer, printable(email), status, cur.upper(),
                format_money(due, cur), format_money(paid, cur), format_money(remaining, cur),
                utc_text(created), utc_text(paid_at), safe_link(url), due, paid, remaining,
            )
            for (iid, number, customer, status, cur, due, paid, remaining, created, paid_at, url, _,
                 email) in found
        ],
        columns=TABLE_COLUMNS + CSV_EXTRA_COLUMNS,
    )  # fmt: skip


def list_invoices(con: duckdb.DuckDBPyConnection, f: InvoiceFilter, limit: int = ROW_LIMIT) -> InvoicePage:
    """The newest `limit` invoices matching `f`, the count of all that match, totals per currency."""
    where, params = _where(f)
    # `where` holds only the constant fragments of _where; values are parameters.
    totals = con.execute(
        f"SELECT currency, count(*), sum(amount_due), sum(amount_paid), sum(amount_remaining) "  # noqa: S608
        f"FROM invoices i WHERE {where} GROUP BY currency ORDER BY count(*) DESC, currency",
        params,
    ).fetchall()
    rows = _rows(con.execute(_rows_sql(where, limited=True), [*params, limit]).fetchall())
    per_currency = pd.DataFrame(
        [
            (
                cur.upper(),
                count,
                format_money(due, cur),
                format_money(paid, cur),
                format_money(remaining, cur),
            )
            for cur, count, due, paid, remaining in totals
        ],
        columns=["Currency", "Invoices", "Amount due", "Amount paid", "Remaining"],
    )
    return InvoicePage(rows, sum(row[1] for row in totals), per_currency)


def invoices_csv(con: duckdb.DuckDBPyConnection, f: InvoiceFilter, chunk: int = ROW_LIMIT) -> str:
    """Every invoice matching `f` (not only the `ROW_LIMIT` the page shows) as CSV, in the columns of
    the page plus integer minor units, read and converted `chunk` rows at a time."""
    where, params = _where(f)
    result = con.execute(_rows_sql(where, limited=False), params)

    def chunks() -> Iterator[pd.DataFrame]:
        while found := result.fetchmany(chunk):
            yield _rows(found)

    return csv_text_of_chunks(chunks(), _rows([]))
