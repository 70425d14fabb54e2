"""The published warehouse snapshot this process reads, and query results cached per snapshot.

Opening the DuckDB file costs tens of milliseconds and a name search over a million
customers needs a prepared table, so each process keeps one connection per published
snapshot: an in-memory database (holding the derived search and dunning tables) with the warehouse
file attached read-only. Every query runs on its own cursor of it, so sessions in
other threads never share a cursor.

`read` caches a query's result under the snapshot version, the query's name and
every argument: a new publication by the sync is a new key, so nothing stale is
served after a sync. Only warehouse data goes through here, which every role that
can open a page may see; nothing per user is cached.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import streamlit as st

from console import customers, dunning_queue
from console.warehouse import WarehouseMissing, snapshot_version
from settings import Settings

WAREHOUSE = "warehouse"  # catalog name of the attached warehouse file

T = TypeVar("T")


def open_snapshot(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection reading the snapshot at `path`, with the derived tables built."""
    if not path.exists():
        raise WarehouseMissing(path)
    con = duckdb.connect()
    con.execute(f"ATTACH ? AS {WAREHOUSE} (READ_ONLY)", [str(path)])
    con.execute(f"USE {WAREHOUSE}")
    dunning_queue.build_dunning_table(con)
    customers.build_search_table(con)
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of a snapshot connection, reading the warehouse's tables by their plain names."""
    cur = con.cursor()
    cur.execute(f"USE {WAREHOUSE}")
    return cur


# Two entries: the live snapshot and the one it replaced, still read by a running query.
@st.cache_resource(max_entries=2, show_spinner="Opening the latest warehouse snapshot...")
def _snapshot(path: str, version: str) -> duckdb.DuckDBPyConnection:
    return open_snapshot(Path(path))


@st.cache_data(max_entries=2000, ttl=timedelta(hours=12), show_spinner=False)
def _cached(path: str, version: str, name: str, args: tuple[Any, ...], _query: Callable[..., Any]) -> Any:
    cur = cursor(_snapshot(path, version))
    try:
        return _query(cur, *args)
    finally:
        cur.close()


def read(settings: Settings, query: Callable[..., T], *args: Any) -> T:
    """`query(cursor, *args)` on the current snapshot, cached per snapshot and arguments.

    Raises WarehouseMissing when the sync has never published a warehouse.
    """
    path = settings.billing_db
    version = snapshot_version(path)
    return _cached(str(path), version, f"{query.__module__}.{query.__qualname__}", args, query)
