"""The one owner of connections to the DuckDB warehouse the sync publishes.

The sync publishes each run by renaming a finished file onto the live path (on a console
host of several, the puller renames a shipped copy the same way: sync/snapshot_pull.py),
so a connection opened here keeps reading one complete snapshot; `snapshot_version` changes
with every publication and keys caches and reconnections.

Two kinds of connection:
- `open_snapshot`: for the console's pages, kept per snapshot by the Streamlit layer
  (console/ui/snapshot_cache.py): an in-memory database with the warehouse attached
  read-only and the derived tables (the customer search table, the invoices in dunning)
  as `memory.main.*` names: the ones the sync built at publication, or, for a warehouse
  published by an older sync, built here once. Each query runs on its own `cursor`.
- `reading`: one short read-only connection, for commands and one-off reads.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from warehouse_views import derived
from warehouse_views.holding import held

WAREHOUSE = "warehouse"  # catalog name of the attached warehouse file


class WarehouseMissing(Exception):
    """No warehouse file yet: the sync has never completed."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"No warehouse at {path} yet. Run the sync once: `python -m sync` "
            f"(with STRIPE_SYNC_API_KEY or STRIPE_API_KEY set), then reload this page."
        )


def snapshot_version(path: Path) -> str:
    """Identifies the published snapshot: inode and modification time of the live file."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise WarehouseMissing(path) from None
    return f"{stat.st_ino}-{stat.st_mtime_ns}"


@contextmanager
def reading(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the current snapshot, closed afterwards."""
    if not path.exists():
        raise WarehouseMissing(path)
    opened: list[duckdb.DuckDBPyConnection] = []
    with held(
        path,
        lambda: opened.append(duckdb.connect(str(path), read_only=True)),
        lambda: opened.pop().close(),
    ):
        try:
            yield opened[0]
        finally:
            opened[0].close()


def open_snapshot(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection reading the snapshot at `path`, with the derived tables readable in memory.main."""
    if not path.exists():
        raise WarehouseMissing(path)
    con = duckdb.connect()
    with held(
        path,
        lambda: con.execute(f"ATTACH ? AS {WAREHOUSE} (READ_ONLY)", [str(path)]),
        lambda: con.execute(f"DETACH {WAREHOUSE}"),
    ) as holder:
        con.execute(f"USE {WAREHOUSE}")
        if derived.present(con, WAREHOUSE):
            # Built by the sync: the search table is copied into memory (0.2 s on a million
            # customers, against 3 s to build it), where a substring scan is about twice as
            # fast as on the compressed file; the few invoices in dunning are read in place.
            search, dunning = derived.SEARCH_TABLE, derived.DUNNING_TABLE
            con.execute(f"CREATE TABLE memory.main.{search} AS FROM {WAREHOUSE}.main.{search}")
            con.execute(f"CREATE VIEW memory.main.{dunning} AS FROM {WAREHOUSE}.main.{dunning}")
        else:
            derived.build(con, "memory.main")
        # The flock lasts as long as the connection (its cursors keep it alive: `cursor`).
        weakref.finalize(con, os.close, holder[0])
        holder[0] = -1
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor of a snapshot connection, reading the warehouse's tables by their plain names."""
    cur = con.cursor()
    cur.execute(f"USE {WAREHOUSE}")
    # A finalizer keeps its arguments alive: the connection, and so its flock, outlives every
    # cursor, e.g. a query still running when the cache drops the connection.
    weakref.finalize(cur, _keep, con)
    return cur


def _keep(con: duckdb.DuckDBPyConnection) -> None:
    """Nothing: called when a cursor is gone, it only held `con` until then."""
