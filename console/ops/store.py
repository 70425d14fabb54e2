"""The ops store: the console's own writes, one SQLite file in WAL mode shared by every
console process. Schema: `schema.sql`. This package is its only user: the rest of the
console calls `console.ops.*` functions, which open and close their own connections.

Times are stored as ISO-8601 UTC text to the second ("2026-11-25T17:28:00Z"), written and
read only through `time_text` and `parse_time`: text in that form sorts as time does.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = (Path(__file__).parent / "schema.sql").read_text()
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def time_text(instant: datetime) -> str:
    """An instant as the ops store writes it; a naive datetime is taken as UTC."""
    if instant.tzinfo is not None:
        instant = instant.astimezone(UTC)
    return instant.strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """A stored time as an aware UTC datetime."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def now_text() -> str:
    return time_text(datetime.now(UTC))


class OpsStoreUnavailable(Exception):
    """The ops store cannot be opened or is not an ops store. The message names the file."""


class OpsStore:
    """One ops-store file. `connect()` yields a connection and closes it afterwards."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._schema_ready = False  # this process has made the file and its schema
        self._schema_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpsStore({str(self.path)!r})"

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode: group writes with `with store.transaction()`."""
        self._ensure_schema()
        conn = _open(self.path)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken at once (BEGIN IMMEDIATE): a check and the write it
        guards cannot interleave with another process's."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def exists(self) -> bool:
        return self.path.exists()

    def _ensure_schema(self) -> None:
        """Create the file (private: it holds emails with portal links) and its schema, once per
        store (`console.ops.store_for` keeps one per file and process)."""
        if self._schema_ready and self.path.exists():
            return
        with self._schema_lock:
            _create_schema(self.path)
            self._schema_ready = True


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _create_schema(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = _open(path)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
        finally:
            conn.close()
    except (OSError, sqlite3.DatabaseError) as problem:
        raise OpsStoreUnavailable(f"the ops store {path} cannot be used: {problem}") from None
