"""One sync run: choose the mode, build the next snapshot, publish it, record the run."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from sync import transform
from sync.backfill import backfill, newest_event
from sync.events import CursorExpired, apply_events, recent_payment_methods
from sync.fetch import NotFound, StripeReader
from sync.progress import Progress
from sync.publish import (
    SCHEMA,
    DamagedWarehouse,
    RunMarker,
    Snapshot,
    Writer,
    exclusive,
    is_damage,
    set_aside,
    utc,
)

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
    publish.DamagedWarehouse (the live file cannot be read; only a full run rebuilds it),
    fetch.KeyRefused (Stripe answered 401/403) or the error that stopped the run; every
    run that got the lock is recorded in sync_runs, failed ones included (by the next
    run that can write, when this one could not).
    """
    if not api_key:
        raise BadConfiguration("STRIPE_SYNC_API_KEY (or STRIPE_API_KEY) is not set")
    if workers < 1:
        raise BadConfiguration("--workers must be at least 1")
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise BadConfiguration("--rate must be a positive number of requests per second")
    # Lock and publish the file itself: a run started through a symlink must take the
    # same lock as one started through the real path, and must not rename over the link.
    db = Path(db).resolve()
    progress = progress or Progress()
    # Every file a run makes is private, DuckDB's own included (its WAL and spill
    # files are made and remade as it goes): the warehouse holds customers' details.
    umask = os.umask(0o077)
    try:
        with exclusive(db):
            return _locked_run(db, api_key, api_base, full, workers, rate, progress)
    finally:
        os.umask(umask)
        progress.close()


def _locked_run(
    db: Path,
    api_key: str,
    api_base: str | None,
    full: bool,
    workers: int,
    rate: float | None,
    progress: Progress,
) -> RunSummary:
    started = time.time()
    marker = RunMarker(db)
    leftover = marker.leftover()
    try:
        cursor, digest, recorded = _read_live(db, [run["started_at"] for run in leftover])
    except DamagedWarehouse as damage:
        if not full:
            failed = {"started_at": started, "mode": "incremental", "status": "failed"}
            marker.set([*leftover, {**failed, "finished_at": time.time(), "error": one_line(damage)}])
            raise
        _set_aside(damage)
        cursor, digest, recorded = None, None, set()
    if cursor is not None and digest != schema_digest():
        log.warning("the warehouse schema changed: running a full backfill")
        cursor = None
    # A run killed after it published is already in sync_runs: only the others are news.
    unrecorded = [run for run in leftover if utc(run["started_at"]) not in recorded]
    mode = "full" if full or cursor is None else "incremental"
    in_progress = {"started_at": started, "mode": mode}
    marker.set([*unrecorded, in_progress])
    reader = StripeReader(api_key, api_base, rate or default_rate(api_key))
    try:
        summary = _run(db, reader, mode, cursor, unrecorded, started, workers, progress)
    except BaseException as exc:
        stopped = isinstance(exc, KeyboardInterrupt)
        failure = {
            **in_progress,
            "status": "interrupted" if stopped else "failed",
            "finished_at": time.time(),
            "requests": reader.requests,
            "error": "stopped by a signal" if stopped else one_line(exc),
        }
        if not isinstance(exc, DamagedWarehouse) and _record_runs(db, [*unrecorded, failure]):
            marker.clear()
        else:
            marker.set([*unrecorded, failure])  # for the next run that can write them
        raise
    marker.clear()
    return summary


def _run(
    db: Path,
    reader: StripeReader,
    mode: str,
    cursor: str | None,
    unrecorded: list[dict[str, Any]],
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
            try:
                snapshot.carry_over_from_live()
            except DamagedWarehouse as damage:
                _set_aside(damage)
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
        for earlier in unrecorded:
            _record(snapshot, earlier)
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
    except BaseException as exc:
        snapshot.discard()
        if mode == "incremental" and is_damage(exc):  # a block of the copied warehouse is corrupt
            raise DamagedWarehouse(db, exc) from exc
        raise


def published_cursor(db: Path) -> str | None:
    """The events cursor of the published warehouse (None before the first run).

    Raises DamagedWarehouse when the file cannot be read."""
    return _read_live(db, [])[0]


def schema_digest() -> str:
    return hashlib.sha256(SCHEMA.read_bytes()).hexdigest()[:16]


def _read_live(db: Path, starts: list[float]) -> tuple[str | None, str | None, set[datetime]]:
    """The live warehouse's events cursor, its schema digest, and which of the runs started at
    `starts` it records.

    Raises DamagedWarehouse when the file cannot be read."""
    if not db.exists():
        return None, None, set()
    try:
        con = duckdb.connect(str(db), read_only=True)
        try:
            state = dict(
                con.execute(
                    "SELECT name, value FROM sync_state WHERE name IN (?, ?)", [CURSOR, SCHEMA_DIGEST]
                ).fetchall()
            )
            found = con.execute(
                "SELECT started_at FROM sync_runs WHERE started_at >= ?", [utc(min(starts, default=0))]
            ).fetchall()
        finally:
            con.close()
    except duckdb.Error as exc:
        if is_damage(exc):
            raise DamagedWarehouse(db, exc) from exc
        raise
    return state.get(CURSOR), state.get(SCHEMA_DIGEST), {started_at for (started_at,) in found}


def _set_aside(damage: DamagedWarehouse) -> None:
    aside = set_aside(damage.db)
    log.warning(
        "the warehouse %s is damaged and cannot be read (%s); moved it to %s and rebuilding it "
        "with a full backfill (its run history cannot be carried over)",
        damage.db,
        one_line(damage.__cause__ or damage),
        aside,
    )


def _record(snapshot: Snapshot, run: dict[str, Any]) -> None:
    snapshot.record_run(
        started_at=run.get("started_at", 0),
        finished_at=run.get("finished_at"),
        mode=run.get("mode", "unknown"),
        status=run["status"],
        requests=run.get("requests"),
        error=run.get("error"),
    )


def _record_runs(db: Path, runs: list[dict[str, Any]]) -> bool:
    """Publish the records of runs that failed or were killed on the live state; False if it
    could not be written (no room left on the disk, say)."""
    try:
        snapshot = Snapshot(db, fresh=False, data=False)
    except Exception as exc:
        log.error("could not record the failed run yet (%s); the next run will", one_line(exc))
        return False
    try:
        for run in runs:
            _record(snapshot, run)
        snapshot.publish()
    except Exception as exc:
        snapshot.discard()
        log.error("could not record the failed run yet (%s); the next run will", one_line(exc))
        return False
    return True


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
