"""Login throttling per username and per client address, over a time window.

Failures are rows in the ops store, so the limit survives restarts and holds
across server processes. After `max_failures` failures inside `window` for a
username or an address, sign-ins for it are refused until `lockout` has passed
since the last failure. An admin clears it with `python -m console.users unlock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console import ops


@dataclass(frozen=True)
class LoginLimits:
    max_failures: int
    window: timedelta
    lockout: timedelta


def _text(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def record_failure(ops_db: Path, username: str, client: str) -> None:
    with ops.connect(ops_db) as conn:
        conn.execute(
            "INSERT INTO login_failures (at, username, client) VALUES (?, ?, ?)",
            (ops.utc_now_text(), username, client),
        )


def locked_until(ops_db: Path, username: str, client: str, limits: LoginLimits) -> datetime | None:
    """When sign-ins for this username or client address are allowed again; None if they are now."""
    now = datetime.now(UTC)
    since = _text(now - max(limits.window, limits.lockout))
    with ops.connect(ops_db) as conn:
        until = None
        for column, value in (("username", username), ("client", client)):
            rows = conn.execute(
                f"SELECT at FROM login_failures WHERE {column} = ? AND cleared = 0 AND at >= ? "  # noqa: S608 (fixed column names)
                "ORDER BY at DESC",
                (value, since),
            ).fetchall()
            times = [datetime.strptime(r["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) for r in rows]
            latest = times[0] if times else None
            in_window = [t for t in times if latest and latest - t <= limits.window]
            if latest and len(in_window) >= limits.max_failures:
                candidate = latest + limits.lockout
                if candidate > now and (until is None or candidate > until):
                    until = candidate
    return until


def clear_failures(ops_db: Path, username: str | None = None, client: str | None = None) -> int:
    """Forget the failures of a username and/or a client address; returns how many."""
    with ops.connect(ops_db) as conn:
        cursor = conn.execute(
            "UPDATE login_failures SET cleared = 1 WHERE cleared = 0 AND (username = ? OR client = ?)",
            (username, client),
        )
    return cursor.rowcount
