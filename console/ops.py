"""The ops store: the console's own transactional writes (audit log, outbox,
link requests, login failures, staff sessions) in one SQLite file in WAL mode,
safe for several processes. Schema: `ops_schema.sql`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = (Path(__file__).parent / "ops_schema.sql").read_text()


def utc_now_text() -> str:
    """Now as the ops store writes times: ISO-8601 UTC, second precision."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the ops store. Autocommit off: use `with conn:`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    conn.isolation_level = "DEFERRED"
    return conn
