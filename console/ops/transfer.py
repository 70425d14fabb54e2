"""Moving an ops store from SQLite to PostgreSQL: every table copied in one transaction.

The target must be empty (its schema is made or upgraded first, so both stores are at the
same version): copying into a store the console already writes to would mix two
histories, so a second run is refused rather than repeated. The source is read inside
one transaction that holds its write lock, so a console still running waits rather than
writing a row the copy misses; stop the consoles first all the same.
"""

from __future__ import annotations

from console.ops.store import OpsConnection, OpsStore, marks

BATCH_ROWS = 1000


class TransferError(Exception):
    """The copy cannot be made; nothing was written."""


def copy_store(source: OpsStore, target: OpsStore) -> dict[str, int]:
    """Copy every table of the SQLite `source` into the empty PostgreSQL `target`; rows per table."""
    if source.dialect != "sqlite" or target.dialect != "postgresql":
        raise TransferError("copy goes from a SQLite ops store to a PostgreSQL one")
    if not source.exists():
        raise TransferError(f"there is no ops store at {source.name}")
    copied: dict[str, int] = {}
    with source.transaction() as read, target.transaction("console.ops copy") as write:
        tables = read.table_names()
        missing = sorted(set(tables) - set(write.table_names()))
        if missing:
            raise TransferError(f"the target has no table {', '.join(missing)}")
        # Table names come from the source's own catalogue, not from input.
        filled = [t for t in tables if write.execute(f"SELECT count(*) FROM {t}").fetchone()[0]]  # noqa: S608
        if filled:
            raise TransferError(
                f"{target.name} already holds rows ({', '.join(filled)}): copy only into an empty ops store"
            )
        for table in tables:
            cursor = read.execute(f"SELECT * FROM {table}")  # noqa: S608
            columns = [column[0] for column in cursor.description]
            insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks(columns)})"  # noqa: S608
            copied[table] = 0
            while rows := cursor.fetchmany(BATCH_ROWS):
                write.executemany(insert, [tuple(row) for row in rows])
                copied[table] += len(rows)
        _continue_identities(write)
    return copied


def _continue_identities(conn: OpsConnection) -> None:
    """Copied ids were given explicitly: each identity column continues after the largest."""
    identities = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in identities:  # names from the catalogue
        restart = f"SELECT setval(pg_get_serial_sequence(?, ?), coalesce(max({column}), 0) + 1, false)"
        conn.execute(f"{restart} FROM {table}", (table, column))
