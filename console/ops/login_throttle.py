"""Sign-in throttling, in the ops store so that it holds across processes and restarts.

Two rules, after `max_failures` failures inside `window`:
- per (username, client address): sign-ins are refused until `lockout` has passed since
  the last failure. An attacker elsewhere cannot lock the real user out, and one user's
  typos behind an office NAT do not lock out their colleagues.
- per username, from any address: each further attempt waits a delay that doubles with
  every failure (up to `max_delay`), instead of a lockout that anyone could trigger.

Each attempt is reserved before the password is checked, in the same transaction as the
check, as a failure row that a correct password clears. The transaction holds the
username's lock (`store.transaction("login:" + username)`; both rules count rows of that
username), so parallel sign-ins, in any process on any host, cannot all pass the check
before any of them is recorded. An admin sees
recent failures on the Sign-ins page and clears them there or with
`python -m console.users unlock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from console.ops.store import OpsStore, now_text, parse_time, time_text


@dataclass(frozen=True)
class LoginLimits:
    max_failures: int
    window: timedelta
    lockout: timedelta
    max_delay: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class Attempt:
    """A reserved sign-in attempt, or the reason there is none."""

    attempt_id: int | None  # the reserved row; None when refused
    retry_at: datetime | None = None  # when refused: the earliest next attempt
    locked: bool = False  # refused by the (username, address) lockout, not a delay

    @property
    def allowed(self) -> bool:
        return self.attempt_id is not None


def _retry_at(times: list[datetime], limits: LoginLimits, locked: bool) -> datetime | None:
    """Newest-first failure times -> when the next attempt may start, or None if it may now."""
    if not times:
        return None
    in_window = [t for t in times if times[0] - t <= limits.window]
    extra = len(in_window) - limits.max_failures
    if extra < 0:
        return None
    if locked:
        return times[0] + limits.lockout
    return times[0] + min(limits.max_delay, timedelta(seconds=2**extra))


def reserve_attempt(store: OpsStore, username: str, client: str, limits: LoginLimits) -> Attempt:
    """Check the limits and, when they allow it, record the attempt as a failure until `succeeded`."""
    now = datetime.now(UTC)
    # A refusal can last `lockout` (or `max_delay`) after the last failure, and that failure counts
    # those of the `window` before it: read back that far, or an old lockout is forgotten early.
    since = time_text(now - limits.window - max(limits.lockout, limits.max_delay))
    with store.transaction(f"login:{username}") as conn:
        rules = (
            (True, "username = ? AND client = ?", (username, client)),
            (False, "username = ?", (username,)),
        )
        for locked, condition, values in rules:
            rows = conn.execute(
                f"SELECT at FROM login_failures WHERE {condition} AND cleared = 0 AND at >= ? "  # noqa: S608 (constant)
                "ORDER BY at DESC",
                (*values, since),
            ).fetchall()
            retry_at = _retry_at([parse_time(row["at"]) for row in rows], limits, locked)
            if retry_at is not None and retry_at > now:
                return Attempt(None, retry_at=retry_at, locked=locked)
        row = conn.execute(
            "INSERT INTO login_failures (at, username, client) VALUES (?, ?, ?) RETURNING id",
            (now_text(), username, client),
        ).fetchone()
        return Attempt(row["id"])


def succeeded(store: OpsStore, attempt: Attempt) -> None:
    """The password was right: the reserved attempt is not a failure."""
    with store.connect() as conn:
        conn.execute("UPDATE login_failures SET cleared = 1 WHERE id = ?", (attempt.attempt_id,))


def recent_failures(store: OpsStore, since: datetime) -> pd.DataFrame:
    """Failures since `since` not yet cleared, per username and address, for the admin page."""
    with store.connect() as conn:
        rows = conn.execute(
            "SELECT username, client, count(*) AS failures, max(at) AS last_failure FROM login_failures "
            "WHERE cleared = 0 AND at >= ? GROUP BY username, client ORDER BY last_failure DESC",
            (time_text(since),),
        ).fetchall()
    return pd.DataFrame(
        [dict(row) for row in rows], columns=["username", "client", "failures", "last_failure"]
    )


def clear_failures(store: OpsStore, username: str | None = None, client: str | None = None) -> int:
    """Forget the failures of a username and/or a client address; returns how many."""
    with store.connect() as conn:
        cursor = conn.execute(
            "UPDATE login_failures SET cleared = 1 WHERE cleared = 0 AND (username = ? OR client = ?)",
            (username, client),
        )
    return cursor.rowcount
