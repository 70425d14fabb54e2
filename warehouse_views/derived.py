"""The derived tables: built once per published snapshot, read by every console process.

- `dunning_invoices`: the invoices in dunning now (warehouse_views/dunning.py's rule), with
  their failures. The work queue and the search's "in dunning" filter read a few thousand
  rows instead of every payment attempt.
- `customer_search`: one row per customer (shown in `SEARCH_ORDER`, newest first), with a
  pre-folded search key (lower case, no accents: "jose" finds "José"), the bit mask
  of their subscriptions' statuses, and whether they have an invoice in dunning. Stored
  in that order, except the rows `appended` by refreshes since, which follow in no order.

The sync builds them in the file it publishes (`build(con, "main")`), keeps them up to date
run by run at the cost of what changed (`refresh`), and records `DIGEST`; the console uses
them when the digest is its own, and otherwise (a warehouse published by an older sync)
builds the same tables in memory (`build(con, "memory.main")`).
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
# sync_state names: the digest of the SQL below that built a published file's tables, and
# the snapshot whose run last wrote the search table whole, in order (built or sorted again).
STATE_NAME = "derived_digest"
SORTED_STATE = "search_sorted"
# The order the search shows customers in, newest first (ids break ties: a total order).
SEARCH_ORDER = "created DESC NULLS LAST, id"
# A refresh appends its rows after the sorted ones (`appended`): a search reads all of them,
# so past this many the table is sorted again (about a second on a million customers).
SORT_AGAIN_ROWS = 20_000


def _dunning_sql(schema: str) -> str:
    return f"CREATE OR REPLACE TABLE {schema}.{DUNNING_TABLE} AS {invoices_in_dunning()}"


def _search_rows(schema: str, customer_ids: str | None = None) -> str:
    """SQL: the search table's rows, of every customer (in order) or of those `customer_ids`
    (a constant SQL query of customer ids) selects (appended)."""
    customers, subscribers, appended = ("TRUE", "TRUE", "FALSE") if customer_ids is None else (
        f"c.id IN ({customer_ids})", f"customer_id IN ({customer_ids})", "TRUE"
    )  # fmt: skip
    return f"""
        WITH statuses AS (
            SELECT customer_id, bit_or({_STATUS_MASK_SQL}) AS mask FROM subscriptions
            WHERE {subscribers} GROUP BY customer_id
        ), dunning AS (SELECT DISTINCT customer_id FROM {schema}.{DUNNING_TABLE} WHERE {subscribers})
        SELECT c.id, c.email, c.name, c.created, c.currency, c.delinquent, c.deleted,
               strip_accents(lower(coalesce(c.email, '') || chr(31) || coalesce(c.name, ''))) AS search_key,
               c.id IN (SELECT customer_id FROM dunning) AS in_dunning,
               coalesce(s.mask, 0) AS subscription_mask,
               {appended} AS appended
        FROM customers c LEFT JOIN statuses s ON s.customer_id = c.id
        WHERE {customers}
    """  # noqa: S608 -- constants of this module and the caller's constant query


def _statements(schema: str) -> list[str]:
    return [
        _dunning_sql(schema),
        f"CREATE OR REPLACE TABLE {schema}.{SEARCH_TABLE} AS {_search_rows(schema)} ORDER BY {SEARCH_ORDER}",
    ]


def _sorted_again(schema: str, source: str) -> str:
    return (
        f"CREATE OR REPLACE TABLE {schema}.{SEARCH_TABLE} AS "  # noqa: S608 -- constants of this module
        f"SELECT * REPLACE (FALSE AS appended) FROM {source}.{SEARCH_TABLE} ORDER BY {SEARCH_ORDER}"
    )


# Of the full build, a refresh and a sort: a file is refreshed only by the code that built it.
DIGEST = hashlib.sha256(
    "\n".join([*_statements("s"), _search_rows("s", "ids"), _sorted_again("s", "s")]).encode()
).hexdigest()[:16]


def build(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Create the derived tables in `schema` from the tables the connection reads by plain name."""
    for statement in _statements(schema):
        con.execute(statement)


def refresh(
    con: duckdb.DuckDBPyConnection, schema: str, invoice_ids: str, customer_ids: str, changes: str
) -> bool:
    """Bring the derived tables in `schema` up to date, at the cost of what changed:
    - `invoice_ids`, a constant SQL query of the invoices that changed or whose payment
      attempts did: their rows of the invoices in dunning are derived again;
    - `customer_ids`, one of the customers whose record or subscriptions changed: their search
      rows are derived again (appended), and so are those of customers whose invoices in
      dunning changed.

    The ids of the rows replaced (or removed) go into the table `changes` (table_name, id),
    which lists what a run changed (sync/publish.py's standby copies exactly those rows).
    Returns whether the search table was then sorted again, whole (SORT_AGAIN_ROWS)."""
    con.execute(
        f"CREATE TEMP TABLE refreshed_customers AS {customer_ids} "  # noqa: S608 -- constant SQL
        f"UNION SELECT customer_id FROM {schema}.{DUNNING_TABLE} WHERE id IN ({invoice_ids})"
    )
    con.execute(f"DELETE FROM {schema}.{DUNNING_TABLE} WHERE id IN ({invoice_ids})")  # noqa: S608
    con.execute(f"INSERT INTO {schema}.{DUNNING_TABLE} {invoices_in_dunning(f'id IN ({invoice_ids})')}")
    con.execute(
        f"INSERT INTO refreshed_customers SELECT customer_id FROM {schema}.{DUNNING_TABLE} "  # noqa: S608
        f"WHERE id IN ({invoice_ids})"
    )
    refreshed = "SELECT id FROM refreshed_customers"
    con.execute(f"DELETE FROM {schema}.{SEARCH_TABLE} WHERE id IN ({refreshed})")  # noqa: S608
    con.execute(f"INSERT INTO {schema}.{SEARCH_TABLE} {_search_rows(schema, refreshed)}")
    con.execute(
        f"INSERT INTO {changes} SELECT '{DUNNING_TABLE}', id FROM ({invoice_ids}) "  # noqa: S608
        f"UNION ALL SELECT DISTINCT '{SEARCH_TABLE}', id FROM refreshed_customers"
    )
    con.execute("DROP TABLE refreshed_customers")
    appended = con.execute(f"SELECT count(*) FROM {schema}.{SEARCH_TABLE} WHERE appended").fetchone()[0]  # noqa: S608
    if appended <= SORT_AGAIN_ROWS:
        return False
    con.execute(_sorted_again(schema, schema))
    return True


def copy_search(con: duckdb.DuckDBPyConnection, schema: str, source: str) -> None:
    """Replace the search table in `schema` by the one in `source` (the schema of another
    attached warehouse), sorted."""
    con.execute(_sorted_again(schema, source))


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
