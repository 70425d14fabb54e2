"""Work states of invoices in dunning (console/rules/work.py), in the ops store.

Saving is optimistic: an agent's form starts from the version it read, and the save
updates the row only if it still holds that version (`UPDATE ... WHERE version = ?`).
When another agent saved in between, nothing is written and `WorkConflict` says who
changed it and when, so the agent reloads instead of overwriting that change unseen.
Every save also appends its change to `work_log` in the same transaction.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from console.ops.store import OpsConnection, OpsStore, marks, now_text, parse_time
from console.rules.work import STATUSES, WorkState

_COLUMNS = "invoice_id, customer_id, assignee, status, snoozed_until, note, version, updated_by, updated_at"


class WorkConflict(Exception):
    """Another agent saved the item since it was read; `current` is what they saved."""

    def __init__(self, current: WorkState) -> None:
        self.current = current
        at = current.updated_at.strftime("%Y-%m-%d %H:%M UTC") if current.updated_at else "an unknown time"
        super().__init__(
            f"Not saved: {current.updated_by} changed this item at {at}. "
            "Reload to see their change, then make yours again."
        )


def _state(row: object) -> WorkState:
    return WorkState(
        invoice_id=row["invoice_id"],
        customer_id=row["customer_id"],
        assignee=row["assignee"],
        status=row["status"],
        snoozed_until=date.fromisoformat(row["snoozed_until"]) if row["snoozed_until"] else None,
        note=row["note"],
        version=row["version"],
        updated_by=row["updated_by"],
        updated_at=parse_time(row["updated_at"]),
    )


def _read(conn: OpsConnection, invoice_id: str) -> WorkState | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM work_items WHERE invoice_id = ?", (invoice_id,)).fetchone()  # noqa: S608
    return _state(row) if row else None


def states(store: OpsStore, invoice_ids: list[str]) -> dict[str, WorkState]:
    """The saved states of these invoices (invoices never worked on are absent)."""
    if not invoice_ids or not store.exists():
        return {}
    with store.connect() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM work_items WHERE invoice_id IN ({marks(invoice_ids)})",  # noqa: S608
            invoice_ids,
        ).fetchall()
    return {row["invoice_id"]: _state(row) for row in rows}


def state_of(store: OpsStore, invoice_id: str, customer_id: str) -> WorkState:
    """The item's state, or the unsaved 'new' one (version 0)."""
    return states(store, [invoice_id]).get(invoice_id) or WorkState(invoice_id, customer_id)


def save(store: OpsStore, agent: str, read: WorkState, changed: WorkState) -> WorkState:
    """Save `changed` over the state the agent `read`; the saved state, or WorkConflict."""
    if changed.status not in STATUSES:
        raise ValueError(f"unknown work status {changed.status!r}")
    if changed.status == "snoozed" and changed.snoozed_until is None:
        raise ValueError("a snooze needs the day it ends")
    snoozed_until = changed.snoozed_until.isoformat() if changed.status == "snoozed" else None
    values = (changed.assignee or None, changed.status, snoozed_until, changed.note.strip())
    at = now_text()
    with store.transaction(f"work:{read.invoice_id}") as conn:
        if read.version == 0:
            # ON CONFLICT, not a caught error: on PostgreSQL an error ends the transaction.
            inserted = conn.execute(
                f"INSERT INTO work_items ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) "  # noqa: S608
                "ON CONFLICT (invoice_id) DO NOTHING",
                (read.invoice_id, read.customer_id, *values, agent, at),
            ).rowcount
            if not inserted:
                raise WorkConflict(_read(conn, read.invoice_id))
        else:
            updated = conn.execute(
                "UPDATE work_items SET assignee = ?, status = ?, snoozed_until = ?, note = ?, "
                "version = version + 1, updated_by = ?, updated_at = ? WHERE invoice_id = ? AND version = ?",
                (*values, agent, at, read.invoice_id, read.version),
            )
            if updated.rowcount == 0:
                raise WorkConflict(_read(conn, read.invoice_id))
        saved = _read(conn, read.invoice_id)
        conn.execute(
            "INSERT INTO work_log (at, agent, invoice_id, customer_id, version, assignee, status, "
            "snoozed_until, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (at, agent, saved.invoice_id, saved.customer_id, saved.version, *values),
        )
    return saved


LOG_COLUMNS = ["at", "agent", "invoice_id", "version", "assignee", "status", "snoozed_until", "note"]


def log_of(store: OpsStore, *, invoice_id: str | None = None, customer_id: str | None = None) -> pd.DataFrame:
    """Work-log rows of an invoice or a customer, newest first."""
    column, value = ("invoice_id", invoice_id) if invoice_id else ("customer_id", customer_id)
    if not store.exists():
        return pd.DataFrame(columns=LOG_COLUMNS)
    with store.connect() as conn:
        rows = conn.execute(
            f"SELECT {', '.join(LOG_COLUMNS)} FROM work_log WHERE {column} = ? ORDER BY id DESC",  # noqa: S608
            (value,),
        ).fetchall()
    return pd.DataFrame([dict(row) for row in rows], columns=LOG_COLUMNS)
