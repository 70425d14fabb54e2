"""Portal-link requests: one row per agent request, reserved before Stripe is called.

The row's key is the request key (the Stripe idempotency key and the outbox's unique
key), so a double click or a rerun finds the first attempt's work. Reserving checks the
agent's hourly limit and records the slot in one transaction holding the agent's lock
(`store.transaction("link-limit:" + agent)`): parallel clicks in several tabs, processes or
hosts queue on it, so a limit of N makes at most N links. A request whose Stripe call
fails gives its slot back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from console.ops.store import OpsStore, now_text, time_text

LIMIT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Reservation:
    replay: bool  # the same request was reserved before: reuse its work
    refused: bool  # the agent is at the limit: nothing was reserved
    made_in_window: int  # the agent's links in the last hour, this one excluded
    session_id: str | None = None  # a replay's Stripe session, once made


def reserve(store: OpsStore, request_key: str, agent: str, customer_id: str, per_hour: int) -> Reservation:
    """Reserve a link slot for this request, or find the earlier reservation of the same request."""
    with store.transaction(f"link-limit:{agent}") as conn:
        row = conn.execute(
            "SELECT stripe_session_id FROM link_requests WHERE request_key = ?", (request_key,)
        ).fetchone()
        if row is not None:
            return Reservation(replay=True, refused=False, made_in_window=0, session_id=row[0])
        made = conn.execute(
            "SELECT COUNT(*) FROM link_requests WHERE agent = ? AND at >= ?",
            (agent, time_text(datetime.now(UTC) - LIMIT_WINDOW)),
        ).fetchone()[0]
        if made >= per_hour:
            return Reservation(replay=False, refused=True, made_in_window=made)
        conn.execute(
            "INSERT INTO link_requests (request_key, at, agent, customer_id) VALUES (?, ?, ?, ?)",
            (request_key, now_text(), agent, customer_id),
        )
    return Reservation(replay=False, refused=False, made_in_window=made)


def release(store: OpsStore, request_key: str) -> None:
    """Give back the slot of a request for which Stripe made no session."""
    with store.connect() as conn:
        conn.execute(
            "DELETE FROM link_requests WHERE request_key = ? AND stripe_session_id IS NULL", (request_key,)
        )


def record_session(store: OpsStore, request_key: str, session_id: str) -> None:
    with store.connect() as conn:
        conn.execute(
            "UPDATE link_requests SET stripe_session_id = ? WHERE request_key = ?", (session_id, request_key)
        )
