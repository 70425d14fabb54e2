"""The audit log of portal links: append-only rows in the ops store.

Every link made, refused or failed is a row; a later outcome (a retried email) is a
new row, never an update (triggers in migrations/0001_initial.*.sql refuse UPDATE and DELETE). Rows name
the Stripe session id, never its URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from console.ops.store import OpsConnection, OpsStore, marks, now_text, parse_time, time_text
from console.rules.links import LINK_MADE_OUTCOMES

OUTCOMES = (
    "created", "emailed", "written", "queued", "uncertain", "failed", "refused", "retry_sent", "retry_failed",
)  # fmt: skip
COLUMNS = (
    "id", "at", "agent", "role", "customer_id", "flow", "subscription_id", "price_id", "delivery",
    "stripe_session_id", "outcome", "error", "request_key",
)  # fmt: skip
_LINK_MADE_MARKS = marks(LINK_MADE_OUTCOMES)
# Customers per statement of `links_made`: well under both backends' limits on parameters.
_CUSTOMERS_PER_QUERY = 500


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


def record(store: OpsStore, entry: AuditEntry) -> None:
    with store.connect() as conn:
        insert(conn, entry)


def insert(conn: OpsConnection, entry: AuditEntry) -> None:
    """Append `entry` on a connection of this package (inside a caller's transaction)."""
    if entry.outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {entry.outcome!r}")
    conn.execute(
        "INSERT INTO audit_log (at, agent, role, customer_id, flow, subscription_id, price_id, delivery,"
        " stripe_session_id, outcome, error, request_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            now_text(), entry.agent, entry.role, entry.customer_id, entry.flow, entry.subscription_id,
            entry.price_id, entry.delivery, entry.stripe_session_id, entry.outcome, entry.error,
            entry.request_key,
        ),
    )  # fmt: skip


def first_for_request(store: OpsStore, request_key: str) -> AuditEntry | None:
    """The row that recorded the agent's request, if any."""
    with store.connect() as conn:
        row = conn.execute(
            "SELECT * FROM audit_log WHERE request_key = ? ORDER BY id LIMIT 1", (request_key,)
        ).fetchone()
    if row is None:
        return None
    return AuditEntry(**{name: row[name] for name in AuditEntry.__dataclass_fields__})


def links_made(
    store: OpsStore, *, flow: str | None = None, customer_ids: list[str] | None = None
) -> pd.DataFrame:
    """Every portal link made (docs/METRICS.md), optionally of one flow or for some customers.

    Columns: customer_id, flow, made_at (naive UTC, like the warehouse's times). An absent
    store has made none.
    """
    empty = pd.DataFrame(
        {
            "customer_id": pd.Series(dtype="object"),
            "flow": pd.Series(dtype="object"),
            "made_at": pd.Series(dtype="datetime64[us]"),
        }
    )
    if not store.exists() or customer_ids == []:
        return empty
    conditions, args = [f"outcome IN ({_LINK_MADE_MARKS})"], list(LINK_MADE_OUTCOMES)
    if flow:
        conditions.append("flow = ?")
        args.append(flow)
    select = f"SELECT customer_id, flow, at FROM audit_log WHERE {' AND '.join(conditions)}"  # noqa: S608
    # The customers as an IN list, a batch per statement (portable, unlike json_each or ANY).
    batches = [
        customer_ids[start : start + _CUSTOMERS_PER_QUERY]
        for start in range(0, len(customer_ids), _CUSTOMERS_PER_QUERY)
    ] if customer_ids is not None else [None]  # fmt: skip
    rows = []
    with store.connect() as conn:
        for batch in batches:
            where = f" AND customer_id IN ({marks(batch)})" if batch is not None else ""
            rows += conn.execute(select + where, [*args, *(batch or ())]).fetchall()
    if not rows:
        return empty
    return pd.DataFrame(
        {
            "customer_id": pd.Series([r["customer_id"] for r in rows], dtype="object"),
            "flow": pd.Series([r["flow"] for r in rows], dtype="object"),
            "made_at": pd.Series(
                [parse_time(r["at"]).replace(tzinfo=None) for r in rows], dtype="datetime64[us]"
            ),
        }
    )


def links_version(store: OpsStore) -> int:
    """Changes whenever a row is added to the audit log (rows are never changed or removed): a cheap
    cache key for `links_made`. 0 for an absent store."""
    if not store.exists():
        return 0
    with store.connect() as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]


def browse(
    store: OpsStore,
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
        args.append(time_text(since))
    if until:
        conditions.append("at < ?")
        args.append(time_text(until))
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    with store.connect() as conn:
        rows = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM audit_log {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            [*args, limit],
        ).fetchall()
    return pd.DataFrame([dict(row) for row in rows], columns=list(COLUMNS))


def agents(store: OpsStore) -> list[str]:
    with store.connect() as conn:
        return [row[0] for row in conn.execute("SELECT DISTINCT agent FROM audit_log ORDER BY agent")]


def last_email(store: OpsStore, customer_id: str, since: datetime) -> tuple[datetime, str] | None:
    """(when, agent) of the latest portal-link email made for the customer since `since`, or None.

    Counts what reached the mail path (a link made, delivered by email): a second email
    within a day is usually a mistake, and the agent is told before sending one.
    """
    if not store.exists():
        return None
    with store.connect() as conn:
        row = conn.execute(
            f"SELECT at, agent FROM audit_log WHERE customer_id = ? AND delivery = 'email' AND at >= ? "  # noqa: S608
            f"AND outcome IN ({_LINK_MADE_MARKS}) ORDER BY at DESC, id DESC LIMIT 1",
            (customer_id, time_text(since), *LINK_MADE_OUTCOMES),
        ).fetchone()
    return (parse_time(row["at"]), row["agent"]) if row else None
