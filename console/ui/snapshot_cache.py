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

from console import ops
from console.ops import audit
from console.warehouse import snapshots
from settings import Settings

T = TypeVar("T")


# Two entries: the live snapshot and the one it replaced, still read by a running query.
@st.cache_resource(max_entries=2, show_spinner="Opening the latest warehouse snapshot...")
def _snapshot(path: str, version: str) -> duckdb.DuckDBPyConnection:
    return snapshots.open_snapshot(Path(path))


def _on_snapshot(path: str, version: str, query: Callable[..., T], *args: Any) -> T:
    cur = snapshots.cursor(_snapshot(path, version))
    try:
        return query(cur, *args)
    finally:
        cur.close()


@st.cache_data(max_entries=2000, ttl=timedelta(hours=12), show_spinner=False)
def _cached(path: str, version: str, name: str, args: tuple[Any, ...], _query: Callable[..., Any]) -> Any:
    return _on_snapshot(path, version, _query, *args)


def read(settings: Settings, query: Callable[..., T], *args: Any) -> T:
    """`query(cursor, *args)` on the current snapshot, cached per snapshot and arguments.

    Raises WarehouseMissing when the sync has never published a warehouse.
    """
    path = settings.billing_db
    version = snapshots.snapshot_version(path)
    return _cached(str(path), version, f"{query.__module__}.{query.__qualname__}", args, query)


@st.cache_data(max_entries=200, ttl=timedelta(hours=12), show_spinner=False)
def _cached_with_links(
    path: str, version: str, ops_path: str, links_version: int, name: str, args: tuple[Any, ...],
    _query: Callable[..., Any],
) -> Any:  # fmt: skip
    return _on_snapshot(path, version, _query, audit.links_made(ops.store_for(Path(ops_path))), *args)


def read_with_links(settings: Settings, query: Callable[..., T], *args: Any) -> T:
    """`query(cursor, links, *args)` with `links` every portal link made (console.ops.audit.links_made),
    cached per snapshot, per state of the audit log (its latest row id, a cheap read) and arguments:
    the links frame itself is never hashed as a key."""
    path = settings.billing_db
    version = snapshots.snapshot_version(path)
    links_version = audit.links_version(ops.store_for(settings.ops_db))
    name = f"{query.__module__}.{query.__qualname__}"
    return _cached_with_links(str(path), version, str(settings.ops_db), links_version, name, args, query)


def run_once(settings: Settings, query: Callable[..., T], *args: Any) -> T:
    """`query(cursor, *args)` on the current snapshot, not cached: for a download built on demand
    (a full export), which would only fill the cache."""
    path = settings.billing_db
    return _on_snapshot(str(path), snapshots.snapshot_version(path), query, *args)
