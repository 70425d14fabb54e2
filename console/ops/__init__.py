"""The ops store: everything the console writes (audit log, outbox, link requests, staff
sessions, sign-in throttling), and the only code that holds its SQL.

`store_for(location)` gives the one `OpsStore` of a SQLite file or a PostgreSQL URL (the
OPS_DB setting) for this process: one schema check and, on PostgreSQL, one connection pool.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from console.ops.store import OpsStore, ServerLocation


@cache
def store_for(location: Path | ServerLocation) -> OpsStore:
    return OpsStore(location)
