"""The ops store: the console's own writes, shared by every console process. Two backends:
- **SQLite** (the default, one host): one file in WAL mode.
- **PostgreSQL** (`OPS_DB=postgresql://...`, several hosts): psycopg 3, a small pool per process.

This package is the only user of the store: the rest of the console calls `console.ops.*`
functions, which open and close their own connections through `OpsStore`.

How a module of console/ops writes a statement that runs on both backends
---------------------------------------------------------------------------
One statement, one string, for both; where the dialects differ, one function per
operation with the switch on `conn.dialect` inside console/ops.

- Open with `with store.connect() as conn:` (autocommit: each statement is its own
  transaction) or `with store.transaction(*locks) as conn:` (one transaction: all or
  nothing; a lost connection raises `OpsStoreUnavailable` and nothing is written).
- `conn.execute(sql, params)` returns a DB-API cursor (`fetchone`, `fetchall`, iteration,
  `rowcount`). Rows are read by position or by column name (`row[0]`, `row["id"]`,
  `dict(row)`), on both backends.
- Placeholders are `?` (the store turns them into `%s` for psycopg); never `%s`, never
  named ones. A literal `%` (`LIKE 'a%'`) is safe.
- Portable forms, supported by both (SQLite >= 3.35):
  - `INSERT ... ON CONFLICT (key) DO NOTHING`, never `INSERT OR IGNORE` / `OR REPLACE`;
  - `INSERT ... RETURNING id` for a new row's id, never `cursor.lastrowid`;
  - `x IN (?, ?, ...)` built with `marks(values)`, never `json_each` or `= ANY(?)`;
  - `UPDATE ... SET version = version + 1 WHERE id = ? AND version = ?` and `rowcount` to
    detect a conflicting write (optimistic concurrency), never `SELECT ... FOR UPDATE`.
  Times are text made by `time_text`/`now_text` and compared as text; flags are 0/1.
- A check and the write it guards (a limit) go in `store.transaction(key)`, naming what the
  check counts (`"login:sam"`): on PostgreSQL the transaction takes a transaction-scoped
  advisory lock per key (`pg_advisory_xact_lock(hashtext(key))`), so that checks of the same
  key queue across processes and hosts while other keys go on; on SQLite every
  `transaction()` takes the database's write lock at once (`BEGIN IMMEDIATE`).
- An atomic state change (a claim) is one `UPDATE ... WHERE status = 'queued'` and its
  `rowcount`: on PostgreSQL a concurrent UPDATE of the same row waits, then re-checks the
  WHERE clause, so exactly one caller sees rowcount 1.
- New tables, indexes or triggers: a new migration, `migrations/NNNN_name.sqlite.sql` and
  `migrations/NNNN_name.postgresql.sql` (the same number, the same tables; identity columns
  on PostgreSQL for AUTOINCREMENT, BYTEA for BLOB). They are applied at start, in order, in
  one transaction each, and the version is recorded in `schema_version`. Never edit a
  migration that has shipped. On PostgreSQL, grants for new tables come from the default
  privileges of README's role setup.
- Errors: `IntegrityError` (a tuple of both drivers' classes) for constraint and
  append-only violations.

Times are stored as ISO-8601 UTC text to the second ("2026-11-25T17:28:00Z"), written and
read only through `time_text` and `parse_time`: text in that form sorts as time does.
"""

from __future__ import annotations

import atexit
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg
from psycopg_pool import ConnectionPool

MIGRATIONS = Path(__file__).parent / "migrations"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
Dialect = Literal["sqlite", "postgresql"]
IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)
# Seconds: how long a start may wait for PostgreSQL, and an operation for a pooled connection.
CONNECT_TIMEOUT = 5
POOL_TIMEOUT = 10
POOL_SIZE = 4  # per process: Streamlit runs a rerun per browser tab in threads


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


def marks(values: Sequence[object]) -> str:
    """`?, ?, ?`: the placeholders of an `IN (...)` list of `values`."""
    return ", ".join("?" for _ in values)


class OpsStoreUnavailable(Exception):
    """The ops store cannot be opened or is not an ops store. The message names the store
    (never a password)."""


class OpsStoreUnreachable(OpsStoreUnavailable):
    """The PostgreSQL server cannot be reached or refuses the connection at start: a setting
    to fix (host, port, user, password), so commands exit 2."""


class ServerLocation(Protocol):
    """A PostgreSQL URL as `settings.PostgresUrl` holds it (this package does not import settings)."""

    redacted: str
    password: str | None

    def secret_url(self) -> str: ...


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations(dialect: Dialect) -> tuple[Migration, ...]:
    """The numbered migrations of `dialect`, in order; numbered 1, 2, 3... without gaps."""
    found = []
    for path in sorted(MIGRATIONS.glob(f"*.{dialect}.sql")):
        number, _, rest = path.name.partition("_")
        found.append(Migration(int(number), rest.removesuffix(f".{dialect}.sql"), path.read_text()))
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{MIGRATIONS}: {dialect} migrations are not numbered 1, 2, 3...")
    return tuple(found)


class Row(tuple):
    """A PostgreSQL result row read by position or by column name, as sqlite3.Row is."""

    names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self.names)


def _row_factory(cursor: psycopg.Cursor) -> Any:
    names = {column.name: i for i, column in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> Row:
        row = Row(values)
        row.names = names
        return row

    return make


@cache
def _postgresql_sql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s`, and a literal `%` doubled, outside quoted text."""
    out, quote = [], None
    for char in sql:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append("%%" if char == "%" else char)
    return "".join(out)


class OpsConnection:
    """One connection of either backend, with the store's statement conventions (module docstring)."""

    def __init__(self, raw: sqlite3.Connection | psycopg.Connection, dialect: Dialect) -> None:
        self.raw = raw
        self.dialect: Dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect == "sqlite":
            return self.raw.execute(sql, tuple(params))
        return self.raw.execute(_postgresql_sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.dialect == "sqlite":
            self.raw.executemany(sql, rows)
        else:
            with self.raw.cursor() as cursor:
                cursor.executemany(_postgresql_sql(sql), rows)

    def table_names(self, with_version: bool = False) -> list[str]:
        """The store's tables; schema_version only `with_version`."""
        if self.dialect == "sqlite":
            sql = (
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
            )
        else:
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        return [row[0] for row in self.execute(sql) if with_version or row[0] != "schema_version"]


class OpsStore:
    """One ops store: a SQLite file (a Path) or a PostgreSQL database (a `ServerLocation`)."""

    def __init__(self, location: Path | ServerLocation) -> None:
        self.dialect: Dialect
        if isinstance(location, str | os.PathLike):
            self.dialect, self.path, self.server = "sqlite", Path(location), None
        else:
            self.dialect, self.path, self.server = "postgresql", None, location
        self._schema_ready = False  # this process has made the store and its schema
        self._schema_lock = threading.Lock()
        self._pool: ConnectionPool | None = None

    @property
    def name(self) -> str:
        """What messages call the store: its file, or its URL without the password."""
        return str(self.path) if self.server is None else self.server.redacted

    def __repr__(self) -> str:
        return f"OpsStore({self.name!r})"

    @contextmanager
    def connect(self) -> Iterator[OpsConnection]:
        """A connection in autocommit mode: group writes with `with store.transaction()`."""
        self._ensure_schema()
        if self.server is None:
            conn = _open_sqlite(self.path)
            try:
                yield OpsConnection(conn, "sqlite")
            finally:
                conn.close()
            return
        try:
            assert self._pool is not None
            with self._pool.connection(timeout=POOL_TIMEOUT) as conn:
                yield OpsConnection(conn, "postgresql")
        except psycopg.OperationalError as problem:
            # The server went away or stopped answering: the transaction was not committed.
            raise OpsStoreUnavailable(self._message("cannot be used", problem)) from None

    @contextmanager
    def transaction(self, *locks: str) -> Iterator[OpsConnection]:
        """One transaction, all or nothing. `locks` name what a check inside it counts
        ("login:sam"): the check and the write it guards cannot interleave with another
        process's for the same key (module docstring)."""
        with self.connect() as conn:
            if conn.dialect == "postgresql":
                with conn.raw.transaction():
                    for key in sorted(set(locks)):  # one order everywhere: no deadlock
                        conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (key,))
                    yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def exists(self) -> bool:
        """False for a SQLite file not made yet (reading it must not create it)."""
        return self.path.exists() if self.path is not None else True

    def schema_version(self) -> int:
        with self.connect() as conn:
            return conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]

    def close(self) -> None:
        """Close this process's connections (PostgreSQL's pool); the next use opens them again."""
        with self._schema_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            self._schema_ready = False

    def _ensure_schema(self) -> None:
        """Make the store and bring its schema to the newest migration, once per store and
        process (`console.ops.store_for` keeps one per location and process)."""
        if self._schema_ready and (self.path is None or self.path.exists()):
            return
        with self._schema_lock:
            if self.server is None:
                _create_sqlite(self.path)
            else:
                self._pool = self._pool or self._start_postgresql()
            self._schema_ready = True

    def _start_postgresql(self) -> ConnectionPool:
        """Upgrade the schema over one direct connection (a clear error if the server is not
        there), then open the pool."""
        assert self.server is not None
        try:
            conn = psycopg.connect(self.server.secret_url(), **_connection_options())
        except psycopg.Error as problem:
            raise OpsStoreUnreachable(self._message("cannot be reached", problem)) from None
        try:
            with conn:
                _upgrade(OpsConnection(conn, "postgresql"))
        except psycopg.errors.InsufficientPrivilege as problem:
            # The console's role may not change the schema (README, "Beyond one machine").
            how = "run `python -m console.ops_migrate upgrade` as the tables' owner"
            raise OpsStoreUnavailable(f"{self._message('needs a schema upgrade', problem)}; {how}") from None
        except psycopg.Error as problem:
            raise OpsStoreUnavailable(self._message("cannot be used", problem)) from None
        pool = ConnectionPool(
            self.server.secret_url(),
            min_size=1,
            max_size=POOL_SIZE,
            kwargs=_connection_options(),
            check=ConnectionPool.check_connection,  # a connection the server dropped is replaced
            name="ops-store",
            open=False,
        )
        pool.open(wait=False)
        atexit.register(pool.close)
        return pool

    def _message(self, what: str, problem: BaseException) -> str:
        """One line naming the store and the driver's reason, without the password."""
        reason = " ".join(str(problem).split()) or type(problem).__name__
        password = self.server.password if self.server else None
        if password:
            reason = reason.replace(password, "***")
        return f"the ops store {self.name} {what}: {reason}"


def _connection_options() -> dict[str, Any]:
    return {
        "autocommit": True,
        "row_factory": _row_factory,
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": "billing-console",
    }


def _open_sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _create_sqlite(path: Path) -> None:
    """Create the file (private: it holds emails with portal links) and upgrade its schema."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = _open_sqlite(path)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            _upgrade(OpsConnection(conn, "sqlite"))
        finally:
            conn.close()
    except (OSError, sqlite3.DatabaseError) as problem:
        raise OpsStoreUnavailable(f"the ops store {path} cannot be used: {problem}") from None


_SCHEMA_VERSION_TABLE = (
    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


def _current_version(conn: OpsConnection) -> int | None:
    """The recorded version; 1 for a store made by the old schema.sql (its tables, no
    version); None for an empty store."""
    if _has_version_table(conn):
        return conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
    return 1 if "audit_log" in conn.table_names() else None


def _has_version_table(conn: OpsConnection) -> bool:
    return "schema_version" in conn.table_names(with_version=True)


def _upgrade(conn: OpsConnection) -> None:
    """Apply the migrations the store lacks, each in one transaction with its version recorded.
    Runs no DDL when the store is current, so that a role without DDL rights can start."""
    wanted = migrations(conn.dialect)
    if _has_version_table(conn) and _current_version(conn) == len(wanted):
        return
    for migration in wanted:
        with _migration_transaction(conn):
            found = _current_version(conn)
            if found is not None and found > len(wanted):
                raise OpsStoreUnavailable(
                    f"the ops store is at schema version {found}, newer than this console's "
                    f"{len(wanted)}: upgrade the console"
                )
            if not _has_version_table(conn):
                conn.execute(_SCHEMA_VERSION_TABLE)
                if found == 1:  # made by the old schema.sql: version 1 without a record
                    _record(conn, wanted[0])
            if (found or 0) >= migration.version:
                continue
            _run_script(conn, migration.sql)
            _record(conn, migration)
    if _current_version(conn) != len(wanted):
        raise OpsStoreUnavailable(f"the ops store did not reach schema version {len(wanted)}")


def _record(conn: OpsConnection, migration: Migration) -> None:
    conn.execute(
        "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.name, now_text()),
    )


@contextmanager
def _migration_transaction(conn: OpsConnection) -> Iterator[None]:
    """One transaction that excludes other migrating processes (and, on SQLite, all writers)."""
    if conn.dialect == "postgresql":
        with conn.raw.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('console.ops schema'))")
            yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _run_script(conn: OpsConnection, script: str) -> None:
    """A migration's statements inside the caller's transaction. (sqlite3's executescript
    would commit first; psycopg runs a script without parameters as it is.)"""
    if conn.dialect == "postgresql":
        conn.raw.execute(script)
        return
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            if re.sub(r"--[^\n]*", "", statement).strip():
                conn.execute(statement)
            statement = ""
