"""The account on disk: one SQLite file, one table per resource, each object's JSON as bytes.

SQLite keeps memory bounded at any account size, answers "newest first after this
cursor" from an index, and lets the server's request threads read while the change
endpoint writes (WAL). The generator writes rows in a fixed order and builds indexes
last, so the same seed and `now` give the same file, byte for byte.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ACCOUNT_FILE = "account.sqlite"


def _nested(obj: dict[str, Any], *path: str) -> Any:
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key)
    return obj


# resource -> the columns besides (id, created, body) that lists filter on, and how to read
# each from the object.
COLUMNS: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {
    "customers": {"email": lambda o: o.get("email"), "deleted": lambda o: int(o.get("deleted", False))},
    "products": {"active": lambda o: int(o["active"])},
    "prices": {
        "product": lambda o: o["product"],
        "active": lambda o: int(o["active"]),
        "currency": lambda o: o["currency"],
    },
    "subscriptions": {
        "customer": lambda o: o["customer"],
        "status": lambda o: o["status"],
        "price": lambda o: o["items"]["data"][0]["price"]["id"],
    },
    "subscription_items": {"subscription": lambda o: o["subscription"]},
    "invoices": {
        "customer": lambda o: o["customer"],
        "subscription": lambda o: _nested(o, "parent", "subscription_details", "subscription"),
        "status": lambda o: o["status"],
    },
    "invoice_payments": {
        "invoice": lambda o: o["invoice"],
        "payment_intent": lambda o: _nested(o, "payment", "payment_intent"),
        "status": lambda o: o["status"],
    },
    "payment_intents": {"customer": lambda o: o["customer"]},
    "charges": {"customer": lambda o: o["customer"], "payment_intent": lambda o: o["payment_intent"]},
    "events": {"type": lambda o: o["type"]},
    # customer: NULL once detached, as on the object.
    "payment_methods": {"customer": lambda o: o["customer"], "type": lambda o: o["type"]},
}

# Object id prefix -> resource, for retrieve-by-id and expansion.
PREFIXES = {
    "cus_": "customers",
    "prod_": "products",
    "price_": "prices",
    "sub_": "subscriptions",
    "si_": "subscription_items",
    "in_": "invoices",
    "inpay_": "invoice_payments",
    "pi_": "payment_intents",
    "ch_": "charges",
    "evt_": "events",
    "pm_": "payment_methods",
}


def dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def create_schema(db: sqlite3.Connection, with_indexes: bool) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for resource, columns in COLUMNS.items():
        extra = "".join(f", {name}" for name in columns)
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {resource} "
            f"(id TEXT PRIMARY KEY, created INTEGER NOT NULL{extra}, body BLOB NOT NULL)"
        )
    if with_indexes:
        create_indexes(db)


def create_indexes(db: sqlite3.Connection) -> None:
    for resource, columns in COLUMNS.items():
        db.execute(f"CREATE INDEX IF NOT EXISTS {resource}_created ON {resource} (created, id)")
        for name in columns:
            db.execute(f"CREATE INDEX IF NOT EXISTS {resource}_{name} ON {resource} ({name}, created, id)")


class AccountWriter:
    """Buffered inserts for the generator; `upsert` for the running server's changes."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.buffers: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
        self.counts: dict[str, int] = dict.fromkeys(COLUMNS, 0)

    def row(self, resource: str, obj: dict[str, Any], body: bytes | None = None) -> tuple[Any, ...]:
        values = [extract(obj) for extract in COLUMNS[resource].values()]
        if body is None:
            # A deleted customer keeps its last full state on disk; the marker only sets the
            # row's flag (the API answers the `deleted: true` stub for it).
            body = dump({k: v for k, v in obj.items() if k != "deleted"} if "deleted" in obj else obj)
        return (obj["id"], obj["created"], *values, body)

    def add(self, resource: str, obj: dict[str, Any], body: bytes | None = None) -> None:
        buffer = self.buffers[resource]
        buffer.append(self.row(resource, obj, body))
        self.counts[resource] += 1
        if len(buffer) >= 5000:
            self.flush_one(resource)

    def flush_one(self, resource: str) -> None:
        buffer = self.buffers[resource]
        if buffer:
            marks = ", ".join("?" * len(buffer[0]))
            # Table names come from COLUMNS, never from a request.
            self.db.executemany(f"INSERT OR REPLACE INTO {resource} VALUES ({marks})", buffer)  # noqa: S608
            buffer.clear()

    def flush(self) -> None:
        for resource in COLUMNS:
            self.flush_one(resource)


def set_meta(db: sqlite3.Connection, values: dict[str, Any]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in sorted(values.items())]
    )


def get_meta(db: sqlite3.Connection) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM meta")}


def iter_objects(data: Path, resource: str) -> Iterator[dict[str, Any]]:
    """Every stored object of a resource, newest first (deleted customers included, in full).

    For tests and tools that want to compare the served account with the generated one.
    """
    if resource not in COLUMNS:
        raise ValueError(f"unknown resource {resource!r}; one of {', '.join(COLUMNS)}")
    db = sqlite3.connect(f"file:{Path(data) / ACCOUNT_FILE}?mode=ro", uri=True)
    try:
        for (body,) in db.execute(f"SELECT body FROM {resource} ORDER BY created DESC, id DESC"):  # noqa: S608
            yield json.loads(body)
    finally:
        db.close()


def deleted_customer_ids(data: Path) -> set[str]:
    db = sqlite3.connect(f"file:{Path(data) / ACCOUNT_FILE}?mode=ro", uri=True)
    try:
        return {cid for (cid,) in db.execute("SELECT id FROM customers WHERE deleted = 1")}
    finally:
        db.close()


class NotFound(Exception):
    """A cursor or id that names no object of the resource."""


class AccountReader:
    """Queries for the server: one per thread (SQLite connections are not shared)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("PRAGMA query_only = ON")

    def close(self) -> None:
        self.db.close()

    def get(self, resource: str, oid: str) -> bytes | None:
        row = self.db.execute(f"SELECT body FROM {resource} WHERE id = ?", (oid,)).fetchone()  # noqa: S608
        return None if row is None else row[0]

    def is_deleted_customer(self, oid: str) -> bool:
        row = self.db.execute("SELECT deleted FROM customers WHERE id = ?", (oid,)).fetchone()
        return bool(row and row[0])

    def page(
        self,
        resource: str,
        where: list[str],
        params: list[Any],
        limit: int,
        starting_after: str | None,
        ending_before: str | None,
    ) -> tuple[list[bytes], bool]:
        """Newest first (created desc, id desc); `limit` rows and whether more follow."""
        where, params = list(where), list(params)
        order = "DESC"
        cursor = starting_after or ending_before
        if cursor is not None:
            row = self.db.execute(f"SELECT created FROM {resource} WHERE id = ?", (cursor,)).fetchone()  # noqa: S608
            if row is None:
                raise NotFound(cursor)
            if starting_after is not None:
                where.append("(created, id) < (?, ?)")
            else:
                where.append("(created, id) > (?, ?)")
                order = "ASC"
            params += [row[0], cursor]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = [
            body
            for (body,) in self.db.execute(
                f"SELECT body FROM {resource} {clause} ORDER BY created {order}, id {order} LIMIT ?",  # noqa: S608
                [*params, limit + 1],
            )
        ]
        has_more = len(rows) > limit
        rows = rows[:limit]
        if order == "ASC":
            rows.reverse()
        return rows, has_more
