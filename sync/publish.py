"""The DuckDB warehouse: snapshot publication, the run lock, batched upserts.

DuckDB lets one process write a file or many read it, never both. So a run never
writes the live file: it builds the next state in `<db>.next`, checkpoints and closes it,
then renames it over the live path. The rename is atomic: a reader that opened the live
file before it keeps reading the previous state from the old inode, a reader that opens
it after sees the whole run, and neither can block or break the sync. Cursors
(sync_state) travel in the same file as the data, so the two can never disagree.

Where `.next` comes from, cheapest first:
- the **standby** `<db>.standby`: the file the previous publication replaced (kept as a
  hard link), one run behind the live file. When no reader still holds it, the run
  renames it to `.next` and catches it up by copying in only the rows the live file's
  run changed (listed in its `snapshot_changes`): a run costs what changed, not what
  exists. Readers show that they hold a file with a shared flock on it
  (console/warehouse/snapshots.py), other DuckDB processes with DuckDB's own lock;
- a copy of the live file (no standby, held by a reader, or not the live file's parent);
- a fresh file, for a full backfill.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from sync.transform import EMBEDDED_PRICES, Rows
from warehouse_views import derived

log = logging.getLogger("sync")

SCHEMA = Path(__file__).with_name("schema.sql")
BATCH_ROWS = 5000
# DuckDB keeps the parts of the (ART) indexes a run changes in memory until a checkpoint
# writes them out: that memory cannot be evicted. In a fresh file it grows with the rows
# written, so the writer checkpoints every CHECKPOINT_ROWS rows; in a large warehouse each
# key changed loads and pins a path of every index of its table (200 invoices of 10M pinned
# 150 MB), so it also checkpoints once the indexes hold INDEX_MEMORY: with both, every run
# fits in 256 MB however large the warehouse (README, Operations: Size).
CHECKPOINT_ROWS = 100_000
INDEX_MEMORY = 64 * 2**20
MEMORY_LIMIT = "256MB"
# sync_state names: this file's identity, and the identity of the file it was built from
# (absent for a fresh one). A standby may be caught up only from the file built from it.
SNAPSHOT_ID = "snapshot_id"
BUILT_FROM = "built_from"
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
# Tables caught up row by row (by id) from the changes a run lists; the rest are copied whole.
BY_ID = (*(t for t in TABLES if t != EMBEDDED_PRICES), "payment_attempts")
WHOLE = ("sync_runs", "sync_state")
_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("s"),  # Stripe's unix seconds go in as they are
    "VARCHAR[]": pa.list_(pa.string()),
}


def read_snapshot_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The id a publication gave this warehouse file; None for a file published before ids."""
    found = con.execute("SELECT value FROM sync_state WHERE name = ?", [SNAPSHOT_ID]).fetchone()
    return found[0] if found else None


# DuckDB finds rows by key through the table's index only for a list of constants (bound
# values count), up to a few thousand; `id IN (SELECT ...)` scans the whole table: on 10M
# invoices, 3.4 s against 0.07 s for 200 ids. Changed keys go 100 at a time: each pins a
# 256 KB block of every index of its table until the next checkpoint (INDEX_MEMORY).
ID_CHUNK = 100


def in_chunks(ids: list[str]) -> Iterator[tuple[str, list[str]]]:
    """`ids` by ID_CHUNK: each chunk with its placeholders ("?, ?, ...") for `id IN (...)`."""
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        yield ", ".join("?" * len(chunk)), chunk


def checkpoint_if_pinned(con: duckdb.DuckDBPyConnection) -> bool:
    """Checkpoint when the (ART) indexes hold INDEX_MEMORY or more; whether it did."""
    held = con.execute(
        "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'ART_INDEX'"
    ).fetchall()[0][0]
    if held < INDEX_MEMORY:
        return False
    con.execute("CHECKPOINT")
    return True


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

    def __init__(self, db: Path, *, fresh: bool, data: bool = True) -> None:
        """`data=False`: a copy of the live file for run records only (a failed run's), which
        must fit where little room is left: no standby and no new identity (this file's
        rows are the live file's, so the standby is then refreshed by a copy)."""
        self.live = db
        self.path = _sibling(db, ".next")
        self.standby = _sibling(db, ".standby")
        self.fresh = fresh
        self.source = "fresh" if fresh else "copy"  # or "standby": how `.next` was made
        self._remove_files()  # left by a killed run
        self.con: duckdb.DuckDBPyConnection | None = None
        self._standby_lock: int | None = None
        self.derived_built = False  # by Writer.finish
        # DuckDB would otherwise cache up to 80% of RAM: a run's memory must not grow
        # with the account. Blocks beyond the limit go to the file or a temp directory.
        self._config = {"memory_limit": MEMORY_LIMIT}
        try:
            if data and not fresh and db.exists() and self._from_standby():
                self.source = "standby"
            else:
                # Created 0600 before any data goes in; copyfile keeps the mode of a file it overwrites.
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                if not fresh and db.exists():
                    shutil.copyfile(db, self.path)
                else:
                    self.path.unlink()  # DuckDB refuses an empty file; it creates its own (umask 077)
                self.con = duckdb.connect(str(self.path), config=self._config)
            self.path.chmod(0o600)
            self.con.execute(SCHEMA.read_text())
            if data:
                self._new_identity()
            # The derived tables this file holds are its data's (the standby's are caught up
            # too) and were built by this code: a run may then refresh them instead.
            found = self.con.execute("SELECT value FROM sync_state WHERE name = ?", [derived.STATE_NAME])
            self.derived_current = found.fetchone() == (derived.DIGEST,)
            self.arrow_schemas = self._arrow_schemas()
        except BaseException as exc:
            self.discard()  # a disk that filled up during the copy must not keep a partial file
            if not fresh and is_damage(exc):
                raise DamagedWarehouse(db, exc) from exc
            raise

    def _new_identity(self) -> None:
        """This file gets its own id and remembers the one it was built from; its change list starts empty."""
        built_from = read_snapshot_id(self.con)
        self.con.execute("DELETE FROM snapshot_changes")
        self.con.execute("DELETE FROM sync_state WHERE name = ?", [BUILT_FROM])
        if built_from and not self.fresh:
            self.set_state(BUILT_FROM, built_from)
        self.id = uuid.uuid4().hex
        self.set_state(SNAPSHOT_ID, self.id)

    # --- the standby ----------------------------------------------------------------

    def _from_standby(self) -> bool:
        """Make `.next` from the standby caught up to the live file; False (nothing left
        behind but the standby, untouched or removed) when it cannot be used."""
        try:
            fd = os.open(self.standby, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a console process still reads it: copy the live file instead
            os.close(fd)
            return False
        self._standby_lock = fd
        try:
            os.replace(self.standby, self.path)
            # Refused (IOException) while another DuckDB process reads the file.
            self.con = duckdb.connect(str(self.path), config=self._config)
            started = time.perf_counter()
            if self._catch_up():
                log.info("next snapshot from the standby, caught up in %.2f s", time.perf_counter() - started)
                return True
        except (duckdb.Error, OSError) as exc:
            log.info("standby not used (%s): copying the live file", " ".join(str(exc).split())[:200])
        self._close_standby()
        return False

    def _catch_up(self) -> bool:
        """Apply to `.next` (the standby) the rows the live file's run changed."""
        quoted = str(self.live).replace("'", "''")
        self.con.execute(f"ATTACH '{quoted}' AS live (READ_ONLY)")
        try:
            state = "SELECT value FROM {}.sync_state WHERE name = ?"
            mine = self.con.execute(state.format("main"), [SNAPSHOT_ID]).fetchone()
            wanted = self.con.execute(state.format("live"), [BUILT_FROM]).fetchone()
            if mine is None or wanted is None or mine != wanted:
                return False
            # The derived tables by id too, when both files' were built by the same code (the
            # live file's run then listed the rows it refreshed); otherwise they are built
            # again (Writer.finish). A search table the live file's run sorted again is copied.
            marks = (derived.STATE_NAME, derived.SORTED_STATE)
            main, live = (
                [self.con.execute(state.format(c), [m]).fetchone() for m in marks] for c in ("main", "live")
            )
            same_code = main[0] is not None and main[0] == live[0]
            same_order = same_code and main[1] == live[1]
            if same_code and not same_order:
                derived.copy_search(self.con, "main", "live.main")
            derived_by_id = (derived.DUNNING_TABLE, derived.SEARCH_TABLE)[: same_code + same_order]
            # One statement at a time: a delete and a re-insert of one key in a single
            # transaction trips DuckDB's primary-key check.
            for table in (*BY_ID, *derived_by_id):
                changed = self.con.execute(
                    "SELECT DISTINCT id FROM live.snapshot_changes WHERE table_name = ?", [table]
                ).fetchall()
                for marks, ids in in_chunks([row[0] for row in changed]):
                    self.con.execute(f"DELETE FROM main.{table} WHERE id IN ({marks})", ids)  # noqa: S608
                    checkpoint_if_pinned(self.con)
                    self.con.execute(
                        f"INSERT INTO main.{table} SELECT * FROM live.{table} WHERE id IN ({marks})",  # noqa: S608
                        ids,
                    )
                    checkpoint_if_pinned(self.con)
            for table in WHOLE:
                self.con.execute(f"DELETE FROM main.{table}")  # noqa: S608 -- our table names
                self.con.execute(f"INSERT INTO main.{table} SELECT * FROM live.{table}")  # noqa: S608
            if not same_code:
                self.con.execute("DELETE FROM main.sync_state WHERE name = ?", [derived.STATE_NAME])
            return True
        finally:
            self.con.execute("DETACH live")

    def _close_standby(self) -> None:
        """Close and remove a standby that will not be used."""
        if self.con is not None:
            self.con.close()
            self.con = None
        self._remove_files()
        self.standby.unlink(missing_ok=True)
        self._release_standby()

    def _release_standby(self) -> None:
        if self._standby_lock is not None:
            os.close(self._standby_lock)
            self._standby_lock = None

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

    def derived_written(self, *, sorted_again: bool) -> None:
        """Record that the derived tables are this code's, and whether the search table was
        written whole, in order (the next run's catch-up then copies it whole)."""
        self.set_state(derived.STATE_NAME, derived.DIGEST)
        if sorted_again:
            self.set_state(derived.SORTED_STATE, self.id)
        self.derived_built = True

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
        a symlink to the warehouse stays a symlink); the file it replaces becomes the standby."""
        if self.source == "standby" and not (self.derived_built or self.derived_current):
            derived.build(self.con, "main")
            self.derived_written(sorted_again=True)
        self.con.execute("CHECKPOINT")
        self.con.close()
        with self.path.open("rb") as handle:
            os.fsync(handle.fileno())
        keep = _sibling(self.live, ".standby-new")
        keep.unlink(missing_ok=True)
        if self.live.exists():
            os.link(self.live, keep)
        os.replace(self.path, self.live)
        if keep.exists():
            os.replace(keep, self.standby)
        self._release_standby()
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
            self._release_standby()

    def _remove_files(self) -> None:
        for path in (self.path, _sibling(self.path, ".wal"), _sibling(self.live, ".standby-new")):
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
                verb = "INSERT"
                if table == "subscription_items":
                    self._drop_removed_items()
                source = "batch"
                if table == EMBEDDED_PRICES:
                    verb = "INSERT OR IGNORE"
                elif table == "payment_methods":
                    # Stripe clears a detached method's customer: keep the last one known.
                    verb = "INSERT OR REPLACE"
                    source = (
                        "(SELECT b.* REPLACE (coalesce(b.customer_id, p.customer_id) AS customer_id) "
                        "FROM batch b LEFT JOIN payment_methods p ON p.id = b.id)"
                    )
                elif self.snapshot.fresh:
                    verb = "INSERT OR REPLACE"
                else:
                    # Rows are whole: the earlier copy goes first. (INSERT OR REPLACE took 1.5 s
                    # for 200 rows of 10M invoices, against 0.2 s for this delete by key.)
                    for marks, ids in in_chunks(list(rows)):
                        self.con.execute(f"DELETE FROM {target} WHERE id IN ({marks})", ids)  # noqa: S608
                        if checkpoint_if_pinned(self.con):
                            self.since_checkpoint = 0
                # Table names come from TABLES, never from input.
                self.con.execute(f"{verb} INTO {target} BY NAME SELECT * FROM {source}")  # noqa: S608
                self._changed(target, "SELECT id FROM batch")
            finally:
                self.con.unregister("batch")
            if table != EMBEDDED_PRICES:
                self.counts[table] = self.counts.get(table, 0) + len(rows)
            rows.clear()
        self.since_checkpoint += self.buffered
        self.buffered = 0
        self._checkpoint_when_due()
        _return_freed_memory()

    def _checkpoint_when_due(self) -> None:
        if self.since_checkpoint >= CHECKPOINT_ROWS:
            self.con.execute("CHECKPOINT")
            self.since_checkpoint = 0
        elif checkpoint_if_pinned(self.con):
            self.since_checkpoint = 0

    def _schema(self, table: str, rows: dict[str, dict[str, Any]]) -> pa.Schema:
        full = self.snapshot.arrow_schemas[table]
        names = next(iter(rows.values())).keys()
        return pa.schema([full.field(name) for name in names])

    def _drop_removed_items(self) -> None:
        # Items removed from a subscription disappear from its list: the batch holds
        # every subscription's complete item list, so anything else of theirs is gone.
        removed = (
            "FROM subscription_items WHERE subscription_id IN "
            "(SELECT DISTINCT subscription_id FROM batch) AND id NOT IN (SELECT id FROM batch)"
        )
        self._changed("subscription_items", f"SELECT id {removed}")
        self.con.execute(f"DELETE {removed}")

    # --- deletions (incremental runs) --------------------------------------------------

    def mark_customers_deleted(self, ids: list[str]) -> None:
        self._by_ids("customers", "UPDATE customers SET deleted = true WHERE id IN (SELECT id FROM ids)", ids)

    def deactivate(self, table: str, ids: list[str]) -> None:
        sql = f"UPDATE {table} SET active = false WHERE id IN (SELECT id FROM ids)"  # noqa: S608
        self._by_ids(table, sql, ids)

    def delete_invoices(self, ids: list[str]) -> None:
        # Only drafts can be deleted in Stripe; nothing else points at them.
        self._by_ids(
            "invoice_payments",
            "DELETE FROM invoice_payments WHERE invoice_id IN (SELECT id FROM ids)",
            ids,
            changed="SELECT id FROM invoice_payments WHERE invoice_id IN (SELECT id FROM ids)",
        )
        self._by_ids("invoices", "DELETE FROM invoices WHERE id IN (SELECT id FROM ids)", ids)

    def _by_ids(self, table: str, sql: str, ids: list[str], changed: str = "SELECT id FROM ids") -> None:
        if not ids:
            return
        self.flush()
        self.con.register("ids", pa.table({"id": pa.array(ids, pa.string())}))
        try:
            self._changed(table, changed)
            self.con.execute(sql)
        finally:
            self.con.unregister("ids")

    def _changed(self, table: str, ids_sql: str) -> None:
        """List the ids `ids_sql` selects as changed in `table`: the next run's catch-up of
        the standby copies exactly those rows (or their absence) from this file."""
        self.con.execute(f"INSERT INTO snapshot_changes SELECT '{table}', id FROM ({ids_sql})")  # noqa: S608

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
        """Flush, then derive what depends on several tables: payment attempts, missing customers,
        and the console's derived tables (warehouse_views/derived.py), built here once per
        published snapshot instead of in every console process.

        A full backfill derives from every row; a run on an earlier state only from the rows
        it changed, so that its cost follows the changes, not the warehouse."""
        self.flush()
        fresh = self.snapshot.fresh
        if fresh:
            cluster_invoices(self.con)
        self.con.execute("BEGIN")
        # The charges whose attempt may have changed: those written, and those an invoice or
        # invoice payment written by this run links to (by payment intent, charge or invoice).
        changed = "(SELECT id FROM snapshot_changes WHERE table_name = '{}')"
        charges, invoices, payments = (changed.format(t) for t in ("charges", "invoices", "invoice_payments"))
        affected = f"""
            SELECT id FROM charges WHERE id IN {charges} OR invoice_id IN {invoices}
               OR payment_intent_id IN (
                   SELECT payment_intent_id FROM invoice_payments WHERE id IN {payments}
                   UNION ALL SELECT payment_intent_id FROM invoices WHERE id IN {invoices})
               OR id IN (
                   SELECT charge_id FROM invoice_payments WHERE id IN {payments}
                   UNION ALL SELECT charge_id FROM invoices WHERE id IN {invoices})
        """  # noqa: S608 -- constant SQL
        if fresh:
            self.con.execute("DELETE FROM payment_attempts")
            only = intents = linked = "TRUE"
        else:
            self.con.execute(f"CREATE TEMP TABLE affected_charges AS {affected}")
            self._changed("payment_attempts", "SELECT id FROM affected_charges")
            # Their invoices before and after: whether those are in dunning may have changed.
            self.con.execute(
                "CREATE TEMP TABLE attempt_invoices AS "
                "SELECT invoice_id AS id FROM payment_attempts WHERE id IN (SELECT id FROM affected_charges)"
            )
            self.con.execute("DELETE FROM payment_attempts WHERE id IN (SELECT id FROM affected_charges)")
            # Group only the links of those charges, not every invoice and invoice payment.
            only = "c.id IN (SELECT id FROM affected_charges)"
            intents = (
                "payment_intent_id IN "
                "(SELECT payment_intent_id FROM charges WHERE id IN (SELECT id FROM affected_charges))"
            )
            linked = "charge_id IN (SELECT id FROM affected_charges)"
        # A charge is an attempt on the invoice whose payment (invoice_payments, current
        # API) names its payment intent or the charge itself; older shapes name the link
        # on the invoice (payment_intent, charge) or on the charge (invoice).
        self.con.execute(
            f"""
            INSERT INTO payment_attempts BY NAME
            WITH by_intent AS (
                SELECT payment_intent_id, any_value(invoice_id) AS invoice_id FROM (
                    SELECT payment_intent_id, invoice_id FROM invoice_payments
                    UNION ALL SELECT payment_intent_id, id FROM invoices
                ) WHERE payment_intent_id IS NOT NULL AND {intents} GROUP BY ALL
            ), by_charge AS (
                SELECT charge_id, any_value(invoice_id) AS invoice_id FROM (
                    SELECT charge_id, invoice_id FROM invoice_payments
                    UNION ALL SELECT charge_id, id FROM invoices
                ) WHERE charge_id IS NOT NULL AND {linked} GROUP BY ALL
            )
            SELECT c.* EXCLUDE (invoice_id),
                   coalesce(i.invoice_id, ch.invoice_id, c.invoice_id) AS invoice_id
            FROM charges c
            LEFT JOIN by_intent i ON i.payment_intent_id = c.payment_intent_id
            LEFT JOIN by_charge ch ON ch.charge_id = c.id
            WHERE coalesce(i.invoice_id, ch.invoice_id, c.invoice_id) IS NOT NULL AND {only}
            ORDER BY c.customer_id, c.created -- clustered: a customer's attempts share a few blocks
            """  # noqa: S608 -- constant SQL
        )
        if not fresh:
            self.con.execute(
                "INSERT INTO attempt_invoices SELECT invoice_id FROM payment_attempts "
                "WHERE id IN (SELECT id FROM affected_charges)"
            )
            self.con.execute("DROP TABLE affected_charges")
        # Stripe stops listing a deleted customer but keeps their subscriptions and
        # invoices: a customer they name that no list returned is a deleted one. Their
        # email is known from their latest invoice. (A run on an earlier state looks only
        # at the invoices and subscriptions it wrote.)
        invoices_written, subscriptions_written = (
            ("TRUE", "TRUE") if fresh else (f"id IN {invoices}", f"id IN {changed.format('subscriptions')}")
        )
        # Narrowed before the anti-join, so that only the customers named are looked up:
        # a hash table of every customer id would grow with the warehouse.
        self.con.execute(
            f"""
            CREATE TEMP TABLE missing_customers AS
            WITH named AS MATERIALIZED (
                SELECT customer_id, customer_email AS email, created FROM invoices
                WHERE customer_id IS NOT NULL AND {invoices_written}
                UNION ALL SELECT customer_id, NULL, created FROM subscriptions
                WHERE customer_id IS NOT NULL AND {subscriptions_written}
            )
            SELECT customer_id AS id, arg_max(email, created) FILTER (WHERE email IS NOT NULL) AS email
            FROM named
            WHERE customer_id NOT IN (SELECT id FROM customers WHERE id IN (SELECT customer_id FROM named))
            GROUP BY customer_id
            """  # noqa: S608 -- constant SQL
        )
        self.con.execute(
            "INSERT INTO customers (id, email, deleted) SELECT id, email, true FROM missing_customers"
        )
        self._changed("customers", "SELECT id FROM missing_customers")
        self.con.execute("DROP TABLE missing_customers")
        if fresh or not self.snapshot.derived_current:
            derived.build(self.con, "main")
            sorted_again = True
        else:
            touched = f"SELECT id FROM {invoices} UNION SELECT id FROM attempt_invoices"  # noqa: S608
            # A customer's search row shows their record and their subscriptions' statuses.
            subscribers = f"SELECT customer_id FROM subscriptions WHERE {subscriptions_written}"  # noqa: S608
            customers = f"SELECT id FROM {changed.format('customers')} UNION {subscribers}"  # noqa: S608
            sorted_again = derived.refresh(self.con, "main", touched, customers, changes="snapshot_changes")
        if not fresh:
            self.con.execute("DROP TABLE attempt_invoices")
        self.snapshot.derived_written(sorted_again=sorted_again)
        self.con.execute("COMMIT")


def cluster_invoices(con: duckdb.DuckDBPyConnection) -> None:
    """Store the invoices in customer order (a full backfill writes them in list order).

    The customer page reads one customer's invoices through the customer_id index: in
    creation order each of them sits in another storage block, which from a cold page cache
    costs one disk read per invoice. Rows that later runs add are appended; the next full
    backfill clusters them again. The rows go back CHECKPOINT_ROWS at a time with a
    checkpoint after each, as in Writer.flush: index memory of uncheckpointed rows cannot
    be evicted. (Separate statements: a delete and a re-insert of one key in a single
    transaction trips DuckDB's primary-key check.)"""
    con.execute(
        "CREATE TEMP TABLE invoices_by_customer AS "
        "SELECT row_number() OVER (ORDER BY customer_id, created, id) AS n, * FROM invoices"
    )
    total = con.execute("SELECT count(*) FROM invoices_by_customer").fetchone()[0]
    con.execute("DELETE FROM invoices")
    con.execute("CHECKPOINT")
    for start in range(0, total, CHECKPOINT_ROWS):
        con.execute(
            "INSERT INTO invoices SELECT * EXCLUDE (n) FROM invoices_by_customer "
            "WHERE n > ? AND n <= ? ORDER BY n",
            [start, start + CHECKPOINT_ROWS],
        )
        con.execute("CHECKPOINT")
    con.execute("DROP TABLE invoices_by_customer")
