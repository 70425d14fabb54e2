"""How fresh the warehouse is, said at the top of every data page.

"Data synced 12 minutes ago (UTC 2026-11-25 17:00)", from the latest succeeded sync
run; a warning when that is older than FRESHNESS_WARN_MINUTES. With no warehouse or
an unreadable one, the page says what to do and stops there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import streamlit as st

from console.display.text import utc_text
from console.ui import snapshot_cache
from console.warehouse import sync_runs
from console.warehouse.snapshots import WarehouseMissing
from settings import Settings


def utc_now() -> datetime:
    """Now in the warehouse's convention: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def age_text(age: timedelta) -> str:
    """'just now', '1 minute ago', '12 minutes ago', '3 hours ago', '2 days ago'."""
    minutes = max(0, int(age.total_seconds() // 60))
    if minutes < 1:
        return "just now"
    for size, unit in ((24 * 60, "day"), (60, "hour")):
        if minutes >= 2 * size:
            return f"{minutes // size} {unit}s ago"
    return "1 minute ago" if minutes == 1 else f"{minutes} minutes ago"


def describe(synced_at: datetime, now: datetime) -> str:
    return f"Data synced {age_text(now - synced_at)} ({utc_text(synced_at)})"


def is_stale(synced_at: datetime, now: datetime, warn_minutes: int) -> bool:
    return now - synced_at > timedelta(minutes=warn_minutes)


def render_freshness(settings: Settings) -> None:
    """Say how fresh the data is; stop the page with guidance when there is no readable warehouse."""
    try:
        synced_at = snapshot_cache.read(settings, sync_runs.last_success)
    except WarehouseMissing as missing:
        st.info(str(missing), icon=":material/database:")
        st.stop()
    except duckdb.Error as problem:
        # A plain rerun of the sync cannot fix an unreadable file: only a full run sets it aside.
        st.error(
            "The warehouse file exists but cannot be read: it may be damaged. An admin must run "
            "`python -m sync --full` on the sync host: it keeps the damaged file beside it (named "
            "`….damaged-<UTC time>`) and rebuilds the warehouse from Stripe. The database said:",
            icon=":material/error:",
        )
        st.code(str(problem).splitlines()[0], language=None)
        st.stop()
    if synced_at is None:
        st.warning(
            "The warehouse holds no successful sync run yet: figures may be incomplete. "
            "Run `python -m sync` and check the Sync status page.",
            icon=":material/sync_problem:",
        )
        return
    now = utc_now()
    text = describe(synced_at, now)
    if is_stale(synced_at, now, settings.freshness_warn_minutes):
        st.warning(
            f"{text}: older than {settings.freshness_warn_minutes} minutes. Check that the scheduled "
            "sync is running (Sync status page, or the sync's logs).",
            icon=":material/schedule:",
        )
    else:
        st.caption(text)
