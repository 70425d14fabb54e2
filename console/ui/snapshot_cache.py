"""Query results over the warehouse, cached per published snapshot, for the pages.

Each process keeps one snapshot connection (console/warehouse/snapshots.py) per
published snapshot. `read` caches a query's result under the snapshot version, the
query's name and every argument: a new publication by the sync is a new key, so nothing
stale is served after a sync. Only warehouse data goes through here, which every role
that can open a page may see; nothing per user is cached.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import streamlit as st

from console.warehouse import snapshots
from settings import Settings

T = TypeVar("T")


# Two entries: the live snapshot and the one it replaced, still read by a running query.
@st.cache_resource(max_entries=2, show_spinner="Opening the latest warehouse snapshot...")
def _snapshot(path: str, version: str) -> duckdb.DuckDBPyConnection:
    return snapshots.open_snapshot(Path(path))


@st.cache_data(max_entries=2000, ttl=timedelta(hours=12), show_spinner=False)
def _cached(path: str, version: str, name: str, args: tuple[Any, ...], _query: Callable[..., Any]) -> Any:
    cur = snapshots.cursor(_snapshot(path, version))
    try:
        return _query(cur, *args)
    finally:
        cur.close()


def read(settings: Settings, query: Callable[..., T], *args: Any) -> T:
    """`query(cursor, *args)` on the current snapshot, cached per snapshot and arguments.

    Raises WarehouseMissing when the sync has never published a warehouse.
    """
    path = settings.billing_db
    version = snapshots.snapshot_version(path)
    return _cached(str(path), version, f"{query.__module__}.{query.__qualname__}", args, query)
