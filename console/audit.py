"""The audit log of portal links: append-only rows in the ops store.

Every link made, refused or failed is a row; a later outcome (a retried email)
is a new row, never an update (triggers in ops_schema.sql refuse UPDATE and
DELETE). Rows name the Stripe session id, never its URL.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from console.ops import utc_now_text

OUTCOMES = ("created", "emailed", "written", "queued", "failed", "refused", "retry_sent", "retry_failed")
# Outcomes in which Stripe made a session: these count against the agent's hourly limit.
LINKS_MADE = ("created", "emailed", "written", "queued")
COLUMNS = (
    "id", "at", "agent", "role", "customer_id", "flow", "subscription_id", "price_id", "delivery",
    "stripe_session_id", "outcome", "error", "request_key",
)  # fmt: skip
# Cells a spreadsheet would run as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditEntry:
    agent: str
    role: str
    customer_id: str
    flow: str
    delivery: str  # copy | email
    outcome: str
    subscription_id: str | None = None
    price_id: str | None = None
    stripe_session_id: str | None = None
    error: str | None = None
    request_key: str | None = None


def record(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    if entry.outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {entry.outcome!r}")
    with conn:
        conn.execute(
            "INSERT INTO audit_log (at, agent, role, customer_id, flow, subscription_id, price_id, delivery,"
            " stripe_session_id, outcome, error, request_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                utc_now_text(), entry.agent, entry.role, entry.customer_id, entry.flow, entry.subscription_id,
                entry.price_id, entry.delivery, entry.stripe_session_id, entry.outcome, entry.error,
                entry.request_key,
            ),
        )  # fmt: skip


def first_for_request(conn: sqlite3.Connection, request_key: str) -> AuditEntry | None:
    """The row that recorded the agent's request, if any."""
    row = conn.execute(
        "SELECT * FROM audit_log WHERE request_key = ? ORDER BY id LIMIT 1", (request_key,)
    ).fetchone()
    if row is None:
        return None
    return AuditEntry(**{name: row[name] for name in AuditEntry.__dataclass_fields__})


def links_made_since(conn: sqlite3.Connection, agent: str, since: datetime) -> int:
    """How many portal sessions `agent` made since `since` (the rate limit's count)."""
    marks = ", ".join("?" for _ in LINKS_MADE)
    return conn.execute(
        f"SELECT COUNT(*) FROM audit_log WHERE agent = ? AND at >= ? AND outcome IN ({marks})",  # noqa: S608
        (agent, since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), *LINKS_MADE),
    ).fetchone()[0]


def links_in_last_hour(conn: sqlite3.Connection, agent: str) -> int:
    return links_made_since(conn, agent, datetime.now(UTC) - timedelta(hours=1))


def browse(
    conn: sqlite3.Connection,
    *,
    agent: str | None = None,
    customer_id: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 5000,
) -> pd.DataFrame:
    """Audit rows, newest first, filtered by any of the arguments (exact matches; times in UTC)."""
    conditions, args = [], []
    for column, value in (("agent", agent), ("customer_id", customer_id), ("outcome", outcome)):
        if value:
            conditions.append(f"{column} = ?")
            args.append(value)
    if since:
        conditions.append("at >= ?")
        args.append(since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if until:
        conditions.append("at < ?")
        args.append(until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM audit_log {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
        [*args, limit],
    )
    return pd.DataFrame([dict(row) for row in rows], columns=list(COLUMNS))


def links_for_customer(conn: sqlite3.Connection, customer_id: str) -> pd.DataFrame:
    """That customer's rows, newest first (for the customer page)."""
    return browse(conn, customer_id=customer_id)


def agents(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT DISTINCT agent FROM audit_log ORDER BY agent")]


def to_csv(rows: pd.DataFrame) -> bytes:
    """CSV for export; a text cell that a spreadsheet would evaluate is prefixed with a quote."""
    safe = rows.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda v: f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_START) else v
            )
    return safe.to_csv(index=False).encode()
