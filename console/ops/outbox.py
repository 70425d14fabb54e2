"""The email outbox's rows: record the message, claim it for sending, mark the result.

A message is claimed by one atomic UPDATE from `queued` to `sending`, so two processes
(or a double click and a retry) can never both send it: on SQLite the write lock orders
them; on PostgreSQL the second UPDATE waits for the first and re-checks `status = 'queued'`
on the row as the first left it, so it matches nothing. Two states mean it may or may
not have gone out, so it is never claimed again automatically: `uncertain` (the mail
server got the whole message but its answer was lost) and a `sending` left behind by a
process that died mid-send. Only an admin who accepts a possible duplicate puts such a
message back in the queue (`requeue_doubtful`). Sending itself is console/links/delivery.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from console.ops.store import OpsStore, marks, now_text

STATUSES = ("queued", "sending", "sent", "written", "uncertain")
# May have gone out: retried only by an admin who accepts a possible duplicate.
DOUBTFUL = ("sending", "uncertain")
LISTED_COLUMNS = (
    "id", "created_at", "customer_id", "recipient", "subject", "status", "attempts", "last_error", "sent_at",
    "file_path",
)  # fmt: skip


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    request_key: str
    customer_id: str
    created_at: str
    sender: str
    recipient: str
    status: str  # one of STATUSES
    attempts: int
    last_error: str | None
    file_path: str | None
    message: bytes


def _message(row: Any) -> OutboxMessage:
    """A row of either backend (read by column name)."""
    fields = {name: row[name] for name in OutboxMessage.__dataclass_fields__}
    return OutboxMessage(**{**fields, "message": bytes(fields["message"])})


def record(
    store: OpsStore,
    *,
    request_key: str,
    customer_id: str,
    sender: str,
    recipient: str,
    subject: str,
    message: bytes,
) -> int:
    """Queue a message; a second call for the same request keeps the first message."""
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO outbox (request_key, created_at, customer_id, sender, recipient, subject, message,"
            " status) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued') ON CONFLICT (request_key) DO NOTHING",
            (request_key, now_text(), customer_id, sender, recipient, subject, message),
        )
        return conn.execute("SELECT id FROM outbox WHERE request_key = ?", (request_key,)).fetchone()["id"]


def find(store: OpsStore, request_key: str) -> OutboxMessage | None:
    with store.connect() as conn:
        row = conn.execute("SELECT * FROM outbox WHERE request_key = ?", (request_key,)).fetchone()
    return _message(row) if row else None


def get(store: OpsStore, outbox_id: int) -> OutboxMessage:
    with store.connect() as conn:
        row = conn.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
    if row is None:
        raise LookupError(f"No outbox message {outbox_id}.")
    return _message(row)


def claim(store: OpsStore, outbox_id: int) -> bool:
    """Take a queued message for sending; False when it is not queued (someone else has it)."""
    with store.connect() as conn:
        return bool(
            conn.execute(
                "UPDATE outbox SET status = 'sending', attempts = attempts + 1 "
                "WHERE id = ? AND status = 'queued'",
                (outbox_id,),
            ).rowcount
        )


def mark_delivered(store: OpsStore, outbox_id: int, status: str, file_path: str | None) -> None:
    with store.connect() as conn:
        conn.execute(
            "UPDATE outbox SET status = ?, sent_at = ?, last_error = NULL, file_path = ? WHERE id = ?",
            (status, now_text(), file_path, outbox_id),
        )


def requeue(store: OpsStore, outbox_id: int, error: str) -> None:
    """Put a claimed message back in the queue with the reason it was not sent."""
    with store.connect() as conn:
        conn.execute("UPDATE outbox SET status = 'queued', last_error = ? WHERE id = ?", (error, outbox_id))


def mark_uncertain(store: OpsStore, outbox_id: int, error: str) -> None:
    """The server may have the message: keep it out of the queue until an admin decides."""
    with store.connect() as conn:
        conn.execute(
            "UPDATE outbox SET status = 'uncertain', last_error = ? WHERE id = ?", (error, outbox_id)
        )


def requeue_doubtful(store: OpsStore, outbox_id: int) -> bool:
    """Queue again a message that may have gone out (the admin accepted a duplicate); False if it
    is not in such a state any more."""
    with store.connect() as conn:
        return bool(
            conn.execute(
                f"UPDATE outbox SET status = 'queued' WHERE id = ? AND status IN ({marks(DOUBTFUL)})",  # noqa: S608
                (outbox_id, *DOUBTFUL),
            ).rowcount
        )


def messages(store: OpsStore, status: str | tuple[str, ...] | None = None, limit: int = 500) -> pd.DataFrame:
    """The outbox for the admin page, newest first, without message bodies (they hold portal links).

    `status`: one status or several; None for all.
    """
    statuses = (status,) if isinstance(status, str) else tuple(status or ())
    where = f"WHERE status IN ({marks(statuses)})" if statuses else ""
    args: list[object] = list(statuses)
    with store.connect() as conn:
        rows = conn.execute(
            f"SELECT {', '.join(LISTED_COLUMNS)} FROM outbox {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            [*args, limit],
        ).fetchall()
    return pd.DataFrame([dict(row) for row in rows], columns=list(LISTED_COLUMNS))
