"""The email outbox: record the message, then send it, then mark it sent.

A message is claimed before sending by one atomic UPDATE from `queued` to
`sending`, so two processes (or a double click and a retry) can never both send
it. An SMTP failure puts it back to `queued` with the error, ready for a retry.
A message left in `sending` means a process died mid-send: it may or may not
have gone out, so it is never sent again automatically.
With no SMTP host configured (the demo) the message is written as an .eml file.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from console import mail
from console.ops import utc_now_text
from settings import Settings

STATUSES = ("queued", "sending", "sent", "written")


@dataclass(frozen=True)
class Delivery:
    outbox_id: int
    request_key: str
    customer_id: str
    status: str  # queued | sending | sent | written
    recipient: str
    attempts: int
    error: str | None = None
    file: Path | None = None
    attempted: bool = False  # this call tried to send it

    @property
    def delivered(self) -> bool:
        return self.status in {"sent", "written"}


def record(
    conn: sqlite3.Connection,
    *,
    request_key: str,
    customer_id: str,
    sender: str,
    recipient: str,
    subject: str,
    message: bytes,
) -> int:
    """Queue a message; a second call for the same request keeps the first message."""
    with conn:
        conn.execute(
            "INSERT INTO outbox (request_key, created_at, customer_id, sender, recipient, subject, message,"
            " status) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued') ON CONFLICT (request_key) DO NOTHING",
            (request_key, utc_now_text(), customer_id, sender, recipient, subject, message),
        )
    return conn.execute("SELECT id FROM outbox WHERE request_key = ?", (request_key,)).fetchone()["id"]


def find(conn: sqlite3.Connection, request_key: str) -> Delivery | None:
    row = conn.execute("SELECT * FROM outbox WHERE request_key = ?", (request_key,)).fetchone()
    return _delivery(row) if row else None


def _delivery(row: sqlite3.Row, attempted: bool = False) -> Delivery:
    return Delivery(
        outbox_id=row["id"],
        request_key=row["request_key"],
        customer_id=row["customer_id"],
        attempted=attempted,
        status=row["status"],
        recipient=row["recipient"],
        attempts=row["attempts"],
        error=row["last_error"],
        file=Path(row["file_path"]) if row["file_path"] else None,
    )


def _row(conn: sqlite3.Connection, outbox_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
    if row is None:
        raise LookupError(f"No outbox message {outbox_id}.")
    return row


def deliver(settings: Settings, conn: sqlite3.Connection, outbox_id: int) -> Delivery:
    """Send (or write) a queued message once; any other state is returned as it is."""
    with conn:
        claimed = conn.execute(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1"
            " WHERE id = ? AND status = 'queued'",
            (outbox_id,),
        ).rowcount
    row = _row(conn, outbox_id)
    if not claimed:
        return _delivery(row)
    try:
        if settings.smtp_host:
            mail.send_smtp(settings, row["sender"], row["recipient"], row["message"])
            status, file_path = "sent", None
        else:
            stamp = row["created_at"].replace(":", "").replace("-", "")
            name = f"{stamp}-{row['id']}-{row['customer_id']}.eml"
            status, file_path = "written", str(mail.write_eml(settings.outbox_dir, name, row["message"]))
    except (mail.MailError, OSError) as error:
        text = (
            str(error) if isinstance(error, mail.MailError) else f"Could not write the outbox file: {error}"
        )
        with conn:
            conn.execute(
                "UPDATE outbox SET status = 'queued', last_error = ? WHERE id = ?", (text, outbox_id)
            )
        return _delivery(_row(conn, outbox_id), attempted=True)
    with conn:
        conn.execute(
            "UPDATE outbox SET status = ?, sent_at = ?, last_error = NULL, file_path = ? WHERE id = ?",
            (status, utc_now_text(), file_path, outbox_id),
        )
    return _delivery(_row(conn, outbox_id), attempted=True)


def messages(conn: sqlite3.Connection, status: str | None = None, limit: int = 500) -> pd.DataFrame:
    """The outbox for the admin page, newest first, without message bodies (they hold portal links)."""
    columns = (
        "id, created_at, customer_id, recipient, subject, status, attempts, last_error, sent_at, file_path"
    )
    where, args = ("WHERE status = ?", [status]) if status else ("", [])
    rows = conn.execute(f"SELECT {columns} FROM outbox {where} ORDER BY id DESC LIMIT ?", [*args, limit])  # noqa: S608
    return pd.DataFrame([dict(row) for row in rows], columns=[c.strip() for c in columns.split(",")])
