"""Server-side record of staff sessions, so that a sign-in can be revoked.

streamlit-authenticator's cookie is a signed token holding only the username
and an expiry instant; nothing in it can be revoked. Each sign-in therefore
records a session row keyed by a digest of (username, expiry), and a cookie is
honoured only while its row exists, is unexpired and is not revoked. Logging
out, a password or role change and removing the user revoke every row of that
user, which ends the user's sessions in every browser, copied cookies included.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from console.ops.store import OpsStore, now_text, time_text


def session_id(username: str, expires_at: float) -> str:
    return hashlib.sha256(f"{username}\n{expires_at!r}".encode()).hexdigest()


def record_session(store: OpsStore, username: str, expires_at: float) -> str:
    sid = session_id(username, expires_at)
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO staff_sessions (session_id, username, created_at, expires_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (session_id) DO NOTHING",
            (sid, username, now_text(), time_text(datetime.fromtimestamp(expires_at, UTC))),
        )
    return sid


def session_is_live(store: OpsStore, username: str, expires_at: float) -> bool:
    """True when this (username, expiry) sign-in was recorded and is neither revoked nor expired."""
    with store.connect() as conn:
        row = conn.execute(
            "SELECT 1 FROM staff_sessions WHERE session_id = ? AND username = ? "
            "AND revoked_at IS NULL AND expires_at > ?",
            (session_id(username, expires_at), username, now_text()),
        ).fetchone()
    return row is not None


def revoke_sessions(store: OpsStore, username: str) -> int:
    """End every session of `username`; returns how many were live."""
    with store.connect() as conn:
        cursor = conn.execute(
            "UPDATE staff_sessions SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL",
            (now_text(), username),
        )
    return cursor.rowcount
