"""Read-only access to the DuckDB warehouse written by the sync.

The sync publishes each run by renaming a finished file onto the live path, so
a connection opened here keeps reading one complete snapshot; `snapshot_version`
changes with every publication and keys caches and reconnections.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb


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


def open_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the current snapshot."""
    if not path.exists():
        raise WarehouseMissing(path)
    return duckdb.connect(str(path), read_only=True)
