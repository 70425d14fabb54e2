"""`python -m sync`: one run, or one every `--every` interval; exit codes for schedulers.

Exit 0 success, 2 bad configuration (a setting or option), 3 Stripe refused the key,
1 anything else (a damaged warehouse included: its line says to run `--full`); the
last line on stderr always says why.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import time
from pathlib import Path

from settings import SettingsError, load_settings
from settings.command_line import OneLineParser, file_path, file_path_problem, number
from sync.fetch import KeyRefused
from sync.job import BadConfiguration, RunSummary, one_line, run
from sync.progress import BarProgress, Progress
from sync.publish import Busy, DamagedWarehouse
from sync.webhooks import RunSchedule, WebhookListener, listen_options

log = logging.getLogger("sync")
EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_KEY_REFUSED = 0, 1, 2, 3
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Runs further apart than Stripe keeps events (30 days) would all be full backfills.
MAX_INTERVAL = 30 * 86400
MAX_WORKERS = 64  # far above what any rate limit keeps busy; more threads only cost memory
MAX_RATE = 10_000.0  # Stripe allows 100; higher figures are for local servers


def parse_interval(text: str) -> float:
    """'15m', '1h', '30s', '2d' or plain seconds, up to 30 days."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match or float(match[1]) <= 0:
        raise BadConfiguration(f"--every {text!r} is not an interval like 15m, 1h, 30s or 900")
    seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if seconds > MAX_INTERVAL:
        raise BadConfiguration(f"--every {text!r} is longer than Stripe keeps events (30d)")
    return seconds


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        prog="python -m sync", description="Sync the Stripe account into the DuckDB warehouse."
    )
    parser.add_argument("--full", action="store_true", help="force a full backfill")
    parser.add_argument("--db", type=file_path, help="warehouse file (default: BILLING_DB)")
    parser.add_argument("--every", help="run again every interval (15m, 1h, ...); runs never overlap")
    parser.add_argument(
        "--listen", metavar="HOST:PORT", help="with --every: also run soon after a Stripe webhook"
    )
    parser.add_argument(
        "--workers",
        type=number(1, MAX_WORKERS, integer=True),
        default=8,
        help="parallel requests (default 8)",
    )
    parser.add_argument(
        "--rate",
        type=number(0, MAX_RATE, above_minimum=True),
        help="requests per second (default 20 test mode, 90 live)",
    )
    return parser.parse_args(argv)


def _once(args: argparse.Namespace, db: Path, api_key: str, api_base: str | None) -> int:
    progress = BarProgress() if sys.stderr.isatty() else Progress()
    try:
        summary: RunSummary = run(
            db,
            api_key=api_key,
            api_base=api_base,
            full=args.full,
            workers=args.workers,
            rate=args.rate,
            progress=progress,
        )
    except BadConfiguration as exc:
        log.error("sync failed: bad configuration: %s", exc)
        return EXIT_CONFIG
    except KeyRefused as exc:
        log.error("sync failed: %s; check STRIPE_SYNC_API_KEY and its permissions", exc)
        return EXIT_KEY_REFUSED
    except Busy as exc:
        log.error("sync not started: %s", exc)
        return EXIT_FAILED
    except DamagedWarehouse as exc:
        log.debug("sync failed", exc_info=True)
        log.error("sync failed: %s", exc)  # whole: its end says what to run
        return EXIT_FAILED
    except Exception as exc:
        log.debug("sync failed", exc_info=True)
        log.error("sync failed: %s", one_line(exc))
        return EXIT_FAILED
    log.info("%s", summary.line())
    return EXIT_OK


def _stop(signum: int, frame: object) -> None:
    # A scheduler's stop (SIGTERM) ends the run like Ctrl-C: recorded, nothing published.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    # The stripe package logs every request at INFO; the run logs its own progress.
    logging.getLogger("stripe").setLevel(logging.WARNING)
    args = _arguments(argv)
    try:
        settings = load_settings()
        every = parse_interval(args.every) if args.every is not None else None
        api_key = settings.sync_api_key
        if not api_key:
            raise BadConfiguration("STRIPE_SYNC_API_KEY (or STRIPE_API_KEY) is not set")
        db = args.db or settings.billing_db
        problem = None if args.db else file_path_problem(db)
        if problem:
            raise BadConfiguration(f"BILLING_DB: {problem}")
        listen = listen_options(args.listen, every, settings.stripe_webhook_secret) if args.listen else None
    except (SettingsError, BadConfiguration) as exc:
        log.error("sync failed: bad configuration: %s", exc)
        return EXIT_CONFIG
    schedule = RunSchedule(every or 0.0, db)
    try:
        listener = WebhookListener(listen, schedule) if listen else None
    except OSError as exc:
        log.error("sync failed: bad configuration: cannot listen on %s: %s", args.listen, exc.strerror or exc)
        return EXIT_CONFIG
    signal.signal(signal.SIGTERM, _stop)
    try:
        while True:
            started = time.monotonic()
            code = _once(args, db, api_key, settings.stripe_api_base)
            if listener is not None:
                schedule.finished(published=code == EXIT_OK)
            if every is None or code in (EXIT_CONFIG, EXIT_KEY_REFUSED):
                return code
            # The next run starts an interval after this one started (at once if this one
            # took longer), or sooner when a webhook asks: never two at a time.
            try:
                schedule.next_run(started)
            except KeyboardInterrupt:
                log.info("sync loop stopped between runs")
                return EXIT_OK
    except KeyboardInterrupt:
        log.error("sync failed: stopped by a signal during a run (recorded as interrupted)")
        return EXIT_FAILED
    finally:
        if listener is not None:
            listener.close()


if __name__ == "__main__":
    sys.exit(main())
