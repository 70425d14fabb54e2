"""What the sync has done: the last successful run, recent runs and their errors, rows per table."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pandas as pd

from console.display.text import printable, utc_text

# Tables a sync fills, in the order the status page lists them (names are constants, never input).
COUNTED_TABLES = (
    "customers",
    "subscriptions",
    "subscription_items",
    "prices",
    "products",
    "invoices",
    "invoice_payments",
    "charges",
    "payment_attempts",
)
RUN_COLUMNS = [
    "Run",
    "Started (UTC)",
    "Finished (UTC)",
    "Mode",
    "Status",
    "Objects written",
    "Events",
    "Requests",
    "Error",
]


def last_success(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the latest succeeded run finished (naive UTC), or None if none has."""
    row = con.execute(
        "SELECT max(coalesce(finished_at, started_at)) FROM sync_runs WHERE status = 'succeeded'"
    ).fetchone()
    return row[0] if row else None


def recent_runs(con: duckdb.DuckDBPyConnection, limit: int = 20) -> pd.DataFrame:
    rows = con.execute(
        "SELECT id, started_at, finished_at, mode, status, objects, events, requests, error "
        "FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT ?",
        [limit],
    ).fetchall()
    return pd.DataFrame(
        [
            (
                run_id,
                utc_text(started),
                utc_text(finished),
                mode,
                status,
                _objects_text(objects),
                events,
                requests,
                printable(error),
            )
            for run_id, started, finished, mode, status, objects, events, requests, error in rows
        ],
        columns=RUN_COLUMNS,
    )


def _objects_text(objects: str | None) -> str:
    if not objects:
        return ""
    try:
        counts = json.loads(objects)
    except ValueError:
        return printable(objects)
    return ", ".join(f"{table}: {count:,}" for table, count in counts.items())


def table_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    # Table names come from COUNTED_TABLES only.
    union = " UNION ALL ".join(f"SELECT '{table}', count(*) FROM {table}" for table in COUNTED_TABLES)  # noqa: S608
    rows = con.execute(union).fetchall()
    return pd.DataFrame(rows, columns=["Table", "Rows"])
