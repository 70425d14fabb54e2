"""The one owner of connections to the DuckDB warehouse the sync publishes.

The sync publishes each run by renaming a finished file onto the live path, so a
connection opened here keeps reading one complete snapshot; `snapshot_version` changes
with every publication and keys caches and reconnections.

Two kinds of connection:
- `open_snapshot`: for the console's pages, kept per snapshot by the Streamlit layer
  (console/ui/snapshot_cache.py): an in-memory database with the warehouse attached
  read-only and the per-snapshot derived tables built once (the customer search table,
  the invoices in dunning). Each query runs on its own `cursor`.
- `reading`: one short read-only connection, for commands and one-off reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from console.warehouse import customers, dunning_queue

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
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


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
