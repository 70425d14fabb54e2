"""The derived tables: built once per published snapshot, read by every console process.

- `dunning_invoices`: the invoices in dunning now (warehouse_views/dunning.py's rule), with
  their failures. The work queue and the search's "in dunning" filter read a few thousand
  rows instead of every payment attempt.
- `customer_search`: one row per customer in the order the search shows them (`position`),
  with a pre-folded search key (lower case, no accents: "jose" finds "José"), the bit mask
  of their subscriptions' statuses, and whether they have an invoice in dunning.

The sync builds them in the file it publishes (`build(con, "main")`) and records
`DIGEST`; the console uses them when the digest is its own, and otherwise (a warehouse
published by an older sync) builds the same tables in memory (`build(con, "memory.main")`).
"""

from __future__ import annotations

import hashlib

import duckdb

from warehouse_views.dunning import invoices_in_dunning

SUBSCRIPTION_STATUSES = (
    "active",
    "trialing",
    "past_due",
    "unpaid",
    "paused",
    "incomplete",
    "incomplete_expired",
    "canceled",
)
# Each subscription status is one bit of the search table's `subscription_mask`: a
# per-customer bit_or is several times cheaper to build than a list of statuses.
STATUS_BIT = {status: 1 << n for n, status in enumerate(SUBSCRIPTION_STATUSES)}
_STATUS_MASK_SQL = (
    "CASE status " + " ".join(f"WHEN '{s}' THEN {bit}" for s, bit in STATUS_BIT.items()) + " ELSE 0 END"
)

DUNNING_TABLE = "dunning_invoices"
SEARCH_TABLE = "customer_search"
# sync_state name of the digest of the SQL below that built a published file's tables.
STATE_NAME = "derived_digest"


def _dunning_sql(schema: str) -> str:
    return f"CREATE OR REPLACE TABLE {schema}.{DUNNING_TABLE} AS {invoices_in_dunning()}"


def _search_sql(schema: str) -> str:
    return f"""
        CREATE OR REPLACE TABLE {schema}.{SEARCH_TABLE} AS
        WITH statuses AS (
            SELECT customer_id, bit_or({_STATUS_MASK_SQL}) AS mask FROM subscriptions GROUP BY customer_id
        ), dunning AS (SELECT DISTINCT customer_id FROM {schema}.{DUNNING_TABLE})
        SELECT row_number() OVER (ORDER BY c.created DESC NULLS LAST, c.id) AS position,
               c.id, c.email, c.name, c.created, c.currency, c.delinquent, c.deleted,
               strip_accents(lower(coalesce(c.email, '') || chr(31) || coalesce(c.name, ''))) AS search_key,
               c.id IN (SELECT customer_id FROM dunning) AS in_dunning,
               coalesce(s.mask, 0) AS subscription_mask
        FROM customers c LEFT JOIN statuses s ON s.customer_id = c.id
        ORDER BY position
    """  # noqa: S608 -- constants of this module


def _statements(schema: str) -> list[str]:
    return [
        _dunning_sql(schema),
        _search_sql(schema),
        f"CREATE INDEX {SEARCH_TABLE}_id ON {schema}.{SEARCH_TABLE} (id)",
    ]


DIGEST = hashlib.sha256("\n".join(_statements("s")).encode()).hexdigest()[:16]


def build(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Create the derived tables in `schema` from the tables the connection reads by plain name."""
    for statement in _statements(schema):
        con.execute(statement)


def refresh(con: duckdb.DuckDBPyConnection, schema: str, invoice_ids: str) -> None:
    """Bring the derived tables in `schema` up to date after the invoices `invoice_ids` (a
    constant SQL query of invoice ids) or their payment attempts changed: the invoices in
    dunning are re-derived for those invoices only (the full build reads every invoice),
    the search table is rebuilt (its positions are the whole order of the customers)."""
    con.execute(f"DELETE FROM {schema}.{DUNNING_TABLE} WHERE id IN ({invoice_ids})")  # noqa: S608
    con.execute(f"INSERT INTO {schema}.{DUNNING_TABLE} {invoices_in_dunning(f'id IN ({invoice_ids})')}")
    for statement in _statements(schema)[1:]:
        con.execute(statement)


def present(con: duckdb.DuckDBPyConnection, catalog: str) -> bool:
    """Whether the attached warehouse `catalog` holds derived tables built by this code."""
    try:
        row = con.execute(
            f"SELECT value FROM {catalog}.main.sync_state WHERE name = ?",  # noqa: S608 -- our catalog name
            [STATE_NAME],
        ).fetchone()
    except duckdb.CatalogException:  # an older warehouse without sync_state
        return False
    return row is not None and row[0] == DIGEST
