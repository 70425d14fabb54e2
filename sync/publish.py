"""The DuckDB warehouse: snapshot publication, the run lock, batched upserts.

DuckDB lets one process write a file or many read it, never both. So a run never
writes the live file: it builds the next state in `<db>.next` (a copy of the live file,
or a fresh one for a full backfill), checkpoints and closes it, then renames it over
the live path. The rename is atomic: a reader that opened the live file before it
keeps reading the previous state from the old inode, a reader that opens it after sees
the whole run, and neither can block or break the sync. Cursors (sync_state) travel in
the same file as the data, so the two can never disagree.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from sync.transform import EMBEDDED_PRICES, Rows

SCHEMA = Path(__file__).with_name("schema.sql")
BATCH_ROWS = 5000
# DuckDB keeps the primary-key (ART) indexes of the rows a run touches in memory.
# Index memory of uncheckpointed rows cannot be evicted, so the writer checkpoints
# every CHECKPOINT_ROWS rows: a backfill into a fresh file then fits in 256 MB
# however large the account. An incremental run upserts into a copy of the full
# warehouse and loads the indexes it updates: 256 MB ran out on a 1.6M-object
# warehouse, hence its 1 GB ceiling (README, Operations: Size).
CHECKPOINT_ROWS = 100_000
MEMORY_LIMIT = {"fresh": "256MB", "copy": "1GB"}
# Tables written by the writer, in the order a batch is applied.
TABLES = (
    "customers",
    "products",
    "prices",
    EMBEDDED_PRICES,
    "subscriptions",
    "subscription_items",
    "invoices",
    "invoice_payments",
    "charges",
    "payment_methods",
)
_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("s"),  # Stripe's unix seconds go in as they are
    "VARCHAR[]": pa.list_(pa.string()),
}


def _glibc_trim() -> Callable[[int], object]:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return lambda pad: None


_malloc_trim = _glibc_trim()


def _return_freed_memory() -> None:
    # Worker threads parse pages in glibc's per-thread arenas, which keep freed memory
    # for reuse; without a trim, a long backfill's resident size creeps up with time.
    _malloc_trim(0)


class Busy(Exception):
    """Another sync holds the warehouse lock."""


class DamagedWarehouse(Exception):
    """The live warehouse file cannot be read: only a full backfill can rebuild it."""

    def __init__(self, db: Path, cause: BaseException) -> None:
        self.db = db
        super().__init__(
            f"the warehouse {db} is damaged and cannot be read ({' '.join(str(cause).split())[:200]}); "
            "run `python -m sync --full` to set it aside and rebuild it from Stripe"
        )


# What DuckDB says about a file that is not (or no longer) a whole DuckDB database:
# a truncated file, an overwritten header, a block whose checksum does not match.
_DAMAGE = ("not a valid DuckDB database file", "Could not read enough bytes", "Corrupt database file")


def is_damage(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.Error) and any(sign in str(exc) for sign in _DAMAGE)


def set_aside(db: Path) -> Path:
    """Rename a damaged warehouse (and its WAL) to `<db>.damaged-<UTC time>`, kept for inspection."""
    aside = _sibling(db, f".damaged-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    for path, target in ((_sibling(db, ".wal"), _sibling(aside, ".wal")), (db, aside)):
        if path.exists():
            os.replace(path, target)
            target.chmod(0o600)
    return aside


def _sibling(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)


def _private_file(path: Path) -> int:
    """Open (creating it 0600) a file of ours; one an earlier version made readable is closed up."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return fd


@contextmanager
def exclusive(db: Path) -> Iterator[None]:
    """Hold `<db>.lock` for the duration of a run; a second run fails at once.

    `db` must be the resolved path: two runs that name one file through different
    paths (a symlink) must take the same lock."""
    db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with os.fdopen(_private_file(_sibling(db, ".lock")), "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"another sync is already running on {db}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


INTERRUPTED = "the process stopped before finishing (killed or crashed); nothing of it was published"


class RunMarker:
    """`<db>.running`: the runs not yet recorded in the live warehouse's sync_runs.

    It holds the run in progress and any earlier run whose record never reached a
    published file (killed, or failed without room or a readable warehouse to record
    it in), so that a run killed after another killed one leaves both for the next run
    to record. An entry without a status is a run that was in progress.
    """

    def __init__(self, db: Path) -> None:
        self.path = _sibling(db, ".running")

    def leftover(self) -> list[dict[str, Any]]:
        """The unrecorded runs, oldest first, each with its status (in progress: interrupted)."""
        try:
            found = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except ValueError:  # killed while writing the marker itself
            found = {"started_at": self.path.stat().st_mtime, "mode": "unknown"}
        runs = found.get("runs", [found]) if isinstance(found, dict) else []
        return [{"status": "interrupted", "error": INTERRUPTED, **run} for run in runs]

    def set(self, runs: list[dict[str, Any]]) -> None:
        # Written whole then renamed: a kill mid-write must not lose the earlier entries.
        partial = _sibling(self.path, ".partial")
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(json.dumps({"runs": runs}))
        os.replace(partial, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class Snapshot:
    """The next state of the warehouse, built beside the live file and published at once."""

    def __init__(self, db: Path, *, fresh: bool) -> None:
        self.live = db
        self.path = _sibling(db, ".next")
        self._remove_files()  # left by a killed run
        self.con: duckdb.DuckDBPyConnection | None = None
        try:
            # Created 0600 before any data goes in; copyfile keeps the mode of a file it overwrites.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            if not fresh and db.exists():
                shutil.copyfile(db, self.path)
            else:
                self.path.unlink()  # DuckDB refuses an empty file; it creates its own (umask 077)
            # DuckDB would otherwise cache up to 80% of RAM: a run's memory must not grow
            # with the account. Blocks beyond the limit go to the file or a temp directory.
            limit = MEMORY_LIMIT["fresh" if fresh else "copy"]
            self.con = duckdb.connect(str(self.path), config={"memory_limit": limit})
            self.path.chmod(0o600)
            self.con.execute(SCHEMA.read_text())
            self.arrow_schemas = self._arrow_schemas()
        except BaseException as exc:
            self.discard()  # a disk that filled up during the copy must not keep a partial file
            if not fresh and is_damage(exc):
                raise DamagedWarehouse(db, exc) from exc
            raise

    def _arrow_schemas(self) -> dict[str, pa.Schema]:
        columns = self.con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
        ).fetchall()
        fields: dict[str, list[pa.Field]] = {}
        for table, column, kind in columns:
            fields.setdefault(table, []).append(pa.field(column, _ARROW_TYPES.get(kind, pa.string())))
        return {table: pa.schema(f) for table, f in fields.items()}

    # --- state and history ------------------------------------------------------------

    def set_state(self, name: str, value: str) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO sync_state VALUES (?, ?, ?)", [name, value, utc(time.time())]
        )

    def record_run(
        self,
        *,
        started_at: float,
        mode: str,
        status: str,
        finished_at: float | None = None,
        objects: dict[str, int] | None = None,
        events: int | None = None,
        requests: int | None = None,
        error: str | None = None,
    ) -> None:
        self.con.execute(
            "INSERT INTO sync_runs SELECT coalesce(max(id), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ? FROM sync_runs",
            [
                utc(started_at),
                utc(finished_at) if finished_at else None,
                mode,
                status,
                json.dumps(objects) if objects is not None else None,
                events,
                requests,
                error,
            ],
        )

    def carry_over_from_live(self) -> None:
        """Into a fresh snapshot: the run history, and customers Stripe no longer lists.

        Raises DamagedWarehouse (nothing carried over) when the live file cannot be read."""
        if not self.live.exists():
            return
        quoted = str(self.live).replace("'", "''")
        try:
            self.con.execute(f"ATTACH '{quoted}' AS live (READ_ONLY)")
        except duckdb.Error as exc:
            if is_damage(exc):
                raise DamagedWarehouse(self.live, exc) from exc
            raise
        try:
            self.con.execute("BEGIN")
            self.con.execute("INSERT INTO sync_runs SELECT * FROM live.sync_runs")
            self.con.execute(
                "INSERT OR IGNORE INTO customers BY NAME SELECT * FROM live.customers WHERE deleted"
            )
            # Stripe lists payment methods only per customer: a backfill finds defaults and
            # those of recent events, so methods learned earlier (detached ones included)
            # are kept; whatever the backfill reads replaces them.
            # (A warehouse older than the table has none to keep.)
            if self.con.execute(
                "SELECT 1 FROM duckdb_tables() "
                "WHERE database_name = 'live' AND table_name = 'payment_methods'"
            ).fetchone():
                self.con.execute(
                    "INSERT OR IGNORE INTO payment_methods BY NAME SELECT * FROM live.payment_methods"
                )
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            self.con.execute("ROLLBACK")
            if is_damage(exc):
                raise DamagedWarehouse(self.live, exc) from exc
            raise
        finally:
            self.con.execute("DETACH live")

    # --- publication ----------------------------------------------------------------

    def publish(self) -> None:
        """Rename the finished snapshot over the live file (the path the run resolved:
        a symlink to the warehouse stays a symlink)."""
        self.con.execute("CHECKPOINT")
        self.con.close()
        with self.path.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.path, self.live)
        directory = os.open(self.live.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def discard(self) -> None:
        try:
            if self.con is not None:
                self.con.close()  # may fail again after a write error (a full disk)
        finally:
            self._remove_files()

    def _remove_files(self) -> None:
        for path in (self.path, _sibling(self.path, ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(_sibling(self.path, ".tmp"), ignore_errors=True)  # DuckDB's spill directory


class Writer:
    """Buffered upserts by id into a snapshot; counts what it wrote per table."""

    def __init__(self, snapshot: Snapshot, batch_rows: int = BATCH_ROWS) -> None:
        self.snapshot = snapshot
        self.con = snapshot.con
        self.batch_rows = batch_rows
        self.buffer: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TABLES}
        self.buffered = 0
        self.since_checkpoint = 0
        self.counts: dict[str, int] = {}

    def add(self, rows: Rows) -> None:
        for table, table_rows in rows.items():
            target = self.buffer[table]
            for row in table_rows:
                target[row["id"]] = row  # a later copy of an object replaces an earlier one
            self.buffered += len(table_rows)
        if self.buffered >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        for table in TABLES:
            rows = self.buffer[table]
            if not rows:
                continue
            target = "prices" if table == EMBEDDED_PRICES else table
            batch = pa.Table.from_pylist(list(rows.values()), schema=self._schema(target, rows))
            self.con.register("batch", batch)
            try:
                verb = "INSERT OR IGNORE" if table == EMBEDDED_PRICES else "INSERT OR REPLACE"
                if table == "subscription_items":
                    self._drop_removed_items()
                source = "batch"
                if table == "payment_methods":
                    # Stripe clears a detached method's customer: keep the last one known.
                    source = (
                        "(SELECT b.* REPLACE (coalesce(b.customer_id, p.customer_id) AS customer_id) "
                        "FROM batch b LEFT JOIN payment_methods p ON p.id = b.id)"
                    )
                # Table names come from TABLES, never from input.
                self.con.execute(f"{verb} INTO {target} BY NAME SELECT * FROM {source}")  # noqa: S608
            finally:
                self.con.unregister("batch")
            if table != EMBEDDED_PRICES:
                self.counts[table] = self.counts.get(table, 0) + len(rows)
            rows.clear()
        self.since_checkpoint += self.buffered
        self.buffered = 0
        if self.since_checkpoint >= CHECKPOINT_ROWS:
            self.con.execute("CHECKPOINT")
            self.since_checkpoint = 0
        _return_freed_memory()

    def _schema(self, table: str, rows: dict[str, dict[str, Any]]) -> pa.Schema:
        full = self.snapshot.arrow_schemas[table]
        names = next(iter(rows.values())).keys()
        return pa.schema([full.field(name) for name in names])

    def _drop_removed_items(self) -> None:
        # Items removed from a subscription disappear from its list: the batch holds
        # every subscription's complete item list, so anything else of theirs is gone.
        self.con.execute(
            "DELETE FROM subscription_items WHERE subscription_id IN "
            "(SELECT DISTINCT subscription_id FROM batch) AND id NOT IN (SELECT id FROM batch)"
        )

    # --- deletions (incremental runs) --------------------------------------------------

    def mark_customers_deleted(self, ids: list[str]) -> None:
        self._by_ids("UPDATE customers SET deleted = true WHERE id IN (SELECT id FROM ids)", ids)

    def deactivate(self, table: str, ids: list[str]) -> None:
        sql = f"UPDATE {table} SET active = false WHERE id IN (SELECT id FROM ids)"  # noqa: S608
        self._by_ids(sql, ids)

    def delete_invoices(self, ids: list[str]) -> None:
        # Only drafts can be deleted in Stripe; nothing else points at them.
        self._by_ids("DELETE FROM invoice_payments WHERE invoice_id IN (SELECT id FROM ids)", ids)
        self._by_ids("DELETE FROM invoices WHERE id IN (SELECT id FROM ids)", ids)

    def _by_ids(self, sql: str, ids: list[str]) -> None:
        if not ids:
            return
        self.flush()
        self.con.register("ids", pa.table({"id": pa.array(ids, pa.string())}))
        try:
            self.con.execute(sql)
        finally:
            self.con.unregister("ids")

    def linked_payment_intents(self, intents: set[str]) -> set[str]:
        """Those of `intents` that an invoice payment (or an older-shape invoice) already names."""
        if not intents:
            return set()
        self.con.register("intents", pa.table({"id": pa.array(sorted(intents), pa.string())}))
        try:
            found = self.con.execute(
                """
                SELECT payment_intent_id FROM invoice_payments WHERE payment_intent_id IN (FROM intents)
                UNION SELECT payment_intent_id FROM invoices WHERE payment_intent_id IN (FROM intents)
                """
            ).fetchall()
        finally:
            self.con.unregister("intents")
        return {row[0] for row in found}

    def known_payment_methods(self, ids: set[str]) -> set[str]:
        """Those of `ids` the warehouse already holds."""
        if not ids:
            return set()
        self.con.register("wanted", pa.table({"id": pa.array(sorted(ids), pa.string())}))
        try:
            found = self.con.execute("SELECT id FROM payment_methods WHERE id IN (FROM wanted)").fetchall()
        finally:
            self.con.unregister("wanted")
        return {row[0] for row in found}

    # --- derived rows -----------------------------------------------------------------

    def finish(self) -> None:
        """Flush, then derive what depends on several tables: payment attempts, missing customers."""
        self.flush()
        self.con.execute("BEGIN")
        self.con.execute("DELETE FROM payment_attempts")
        # A charge is an attempt on the invoice whose payment (invoice_payments, current
        # API) names its payment intent or the charge itself; older shapes name the link
        # on the invoice (payment_intent, charge) or on the charge (invoice).
        self.con.execute(
            """
            INSERT INTO payment_attempts BY NAME
            WITH by_intent AS (
                SELECT payment_intent_id, any_value(invoice_id) AS invoice_id FROM (
                    SELECT payment_intent_id, invoice_id FROM invoice_payments
                    UNION ALL SELECT payment_intent_id, id FROM invoices
                ) WHERE payment_intent_id IS NOT NULL GROUP BY ALL
            ), by_charge AS (
                SELECT charge_id, any_value(invoice_id) AS invoice_id FROM (
                    SELECT charge_id, invoice_id FROM invoice_payments
                    UNION ALL SELECT charge_id, id FROM invoices
                ) WHERE charge_id IS NOT NULL GROUP BY ALL
            )
            SELECT c.* EXCLUDE (invoice_id),
                   coalesce(i.invoice_id, ch.invoice_id, c.invoice_id) AS invoice_id
            FROM charges c
            LEFT JOIN by_intent i ON i.payment_intent_id = c.payment_intent_id
            LEFT JOIN by_charge ch ON ch.charge_id = c.id
            WHERE coalesce(i.invoice_id, ch.invoice_id, c.invoice_id) IS NOT NULL
            """
        )
        # Stripe stops listing a deleted customer but keeps their subscriptions and
        # invoices: a customer they name that no list returned is a deleted one. Their
        # email is known from their latest invoice.
        self.con.execute(
            """
            INSERT INTO customers (id, email, deleted)
            SELECT customer_id, arg_max(email, created) FILTER (WHERE email IS NOT NULL), true FROM (
                SELECT customer_id, customer_email AS email, created FROM invoices
                UNION ALL SELECT customer_id, NULL, created FROM subscriptions
            ) WHERE customer_id IS NOT NULL
              AND customer_id NOT IN (SELECT id FROM customers)
            GROUP BY customer_id
            """
        )
        self.con.execute("COMMIT")
