"""The ops store: everything the console writes (audit log, outbox, link requests, staff
sessions, sign-in throttling), and the only code that holds its SQL.

`store_for(path)` gives the one `OpsStore` of a file for this process.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from console.ops.store import OpsStore


@cache
def store_for(path: Path) -> OpsStore:
    return OpsStore(path)
