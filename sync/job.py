"""One sync run: choose the mode, build the next snapshot, publish it, record the run."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from sync import transform
from sync.backfill import backfill, newest_event
from sync.events import CursorExpired, apply_events, recent_payment_methods
from sync.fetch import NotFound, StripeReader
from sync.progress import Progress
from sync.publish import SCHEMA, RunMarker, Snapshot, Writer, exclusive

log = logging.getLogger("sync")

CURSOR = "events_cursor"  # created (unix seconds) of the newest event applied, or "none"
NO_EVENTS = "none"  # the account had no events when the backfill started
# Digest of sync/schema.sql the warehouse was backfilled with: incremental runs only
# update rows, so a warehouse built with another schema gets a full backfill instead
# of new columns that stay empty.
SCHEMA_DIGEST = "schema_digest"


class BadConfiguration(Exception):
    """A setting or option is missing or malformed; the message names it."""


@dataclass(frozen=True)
class RunSummary:
    mode: str  # full | incremental
    objects: dict[str, int] = field(default_factory=dict)  # rows written per table
    events: int = 0  # events read
    requests: int = 0  # HTTP requests made to Stripe
    seconds: float = 0.0

    def line(self) -> str:
        tables = " ".join(f"{name}={count}" for name, count in sorted(self.objects.items()))
        return (
            f"sync done: mode={self.mode} {tables} events={self.events} "
            f"requests={self.requests} seconds={self.seconds:.1f}"
        )


def default_rate(api_key: str) -> float:
    """Requests per second: under Stripe's limits of 100 (live) and 25 (test mode)."""
    return 90.0 if api_key.startswith(("sk_live_", "rk_live_")) else 20.0


def run(
    db: Path,
    *,
    api_key: str,
    api_base: str | None = None,
    full: bool = False,
    workers: int = 8,
    rate: float | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """Sync the Stripe account into the warehouse at `db` (a full backfill the first time).

    Raises BadConfiguration, publish.Busy (another run holds the lock),
    fetch.KeyRefused (Stripe answered 401/403) or the error that stopped the run; every
    run that got the lock is recorded in sync_runs, failed ones included.
    """
    if not api_key:
        raise BadConfiguration("STRIPE_SYNC_API_KEY (or STRIPE_API_KEY) is not set")
    if workers < 1:
        raise BadConfiguration("--workers must be at least 1")
    if rate is not None and rate <= 0:
        raise BadConfiguration("--rate must be a positive number of requests per second")
    db = Path(db)
    progress = progress or Progress()
    started = time.time()
    with exclusive(db):
        marker = RunMarker(db)
        leftover = marker.leftover()
        cursor = _live_state(db, CURSOR)
        if cursor is not None and _live_state(db, SCHEMA_DIGEST) != schema_digest():
            log.warning("the warehouse schema changed: running a full backfill")
            cursor = None
        mode = "full" if full or cursor is None else "incremental"
        marker.set(started, mode)
        reader = StripeReader(api_key, api_base, rate or default_rate(api_key))
        try:
            summary = _run(db, reader, mode, cursor, leftover, started, workers, progress)
        except BaseException as exc:
            _record_failure(db, leftover, started, mode, reader.requests, exc)
            marker.clear()
            raise
        finally:
            progress.close()
        marker.clear()
        return summary


def _run(
    db: Path,
    reader: StripeReader,
    mode: str,
    cursor: str | None,
    leftover: dict | None,
    started: float,
    workers: int,
    progress: Progress,
) -> RunSummary:
    events = 0
    snapshot = Snapshot(db, fresh=mode == "full")
    try:
        writer = Writer(snapshot)
        if mode == "incremental":
            try:
                applied = apply_events(
                    reader, writer, None if cursor == NO_EVENTS else int(cursor), workers, progress
                )
                events = applied.events
                if applied.newest is not None:
                    snapshot.set_state(CURSOR, str(applied.newest))
            except (CursorExpired, NotFound) as exc:
                reason = "no Events API on this server" if isinstance(exc, NotFound) else str(exc)
                log.warning("%s: running a full backfill instead", reason)
                snapshot.discard()
                mode = "full"
                snapshot = Snapshot(db, fresh=True)
                writer = Writer(snapshot)
        if mode == "full":
            snapshot.carry_over_from_live()
            # The cursor is taken before the first page: whatever changes while the
            # backfill runs is replayed by the next incremental run.
            try:
                newest = newest_event(reader)
                snapshot.set_state(CURSOR, str(newest["created"]) if newest else NO_EVENTS)
            except NotFound:
                log.warning("no Events API on this server: the next run will be a full backfill too")
            backfill(reader, writer, workers, progress)
            writer.add(transform.rows(recent_payment_methods(reader, workers)))
            snapshot.set_state(SCHEMA_DIGEST, schema_digest())
        writer.finish()
        if leftover:
            _record_interrupted(snapshot, leftover)
        finished = time.time()
        summary = RunSummary(mode, dict(writer.counts), events, reader.requests, finished - started)
        snapshot.record_run(
            started_at=started,
            finished_at=finished,
            mode=mode,
            status="succeeded",
            objects=summary.objects,
            events=events if mode == "incremental" else None,
            requests=reader.requests,
        )
        snapshot.publish()
        return summary
    except BaseException:
        snapshot.discard()
        raise


def schema_digest() -> str:
    return hashlib.sha256(SCHEMA.read_bytes()).hexdigest()[:16]


def _live_state(db: Path, name: str) -> str | None:
    if not db.exists():
        return None
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT value FROM sync_state WHERE name = ?", [name]).fetchone()
    finally:
        con.close()
    return row[0] if row else None


def _record_interrupted(snapshot: Snapshot, leftover: dict) -> None:
    snapshot.record_run(
        started_at=leftover.get("started_at", 0),
        mode=leftover.get("mode", "unknown"),
        status="interrupted",
        error="the process stopped before finishing (killed or crashed); nothing of it was published",
    )


def _record_failure(
    db: Path, leftover: dict | None, started: float, mode: str, requests: int, exc: BaseException
) -> None:
    """Publish only the failed run's record (and a killed predecessor's) on the live state."""
    stopped = isinstance(exc, KeyboardInterrupt)
    reason = "stopped by a signal" if stopped else one_line(exc)
    snapshot = Snapshot(db, fresh=False)
    try:
        if leftover:
            _record_interrupted(snapshot, leftover)
        snapshot.record_run(
            started_at=started,
            finished_at=time.time(),
            mode=mode,
            status="interrupted" if stopped else "failed",
            requests=requests,
            error=reason,
        )
        snapshot.publish()
    except Exception:
        snapshot.discard()
        log.exception("could not record the failed run")


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
