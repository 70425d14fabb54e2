"""Stripe webhooks nudge the sync loop: a signed delivery starts an incremental run soon.

The sync stays the only writer and still reads the Events API: a webhook only says
"something changed", so a lost, late or repeated delivery costs at most one extra cheap
run, or a wait until the next scheduled one. Nothing of a delivery's body is kept,
logged or written to the warehouse.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from argparse import ArgumentTypeError
from collections import OrderedDict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import stripe

from settings.command_line import host_port
from sync.job import NO_EVENTS, BadConfiguration, published_cursor
from sync.publish import DamagedWarehouse
from sync.resources import EVENT_TYPES

log = logging.getLogger("sync")

WEBHOOK_PATH = "/stripe/webhook"
MAX_BODY_BYTES = 1024 * 1024  # Stripe's events are a few KB; anything near this is not Stripe
# A burst of deliveries (one payment makes five or more events) waits this long so that
# it becomes one run, not one run per event.
DEBOUNCE_SECONDS = 1.5
# Ids of events that published runs applied, kept for Stripe's redeliveries (for days).
REMEMBERED_EVENTS = 100_000
# A client that stops sending halfway frees its thread after this long.
READ_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class ListenOptions:
    host: str
    port: int
    secret: str


def listen_options(text: str, every: float | None, secret: str | None) -> ListenOptions:
    """Check `--listen HOST:PORT`, that a schedule runs beside it and that the secret is set."""
    try:
        host, port = host_port(text)
    except ArgumentTypeError as exc:
        raise BadConfiguration(f"--listen {exc}") from None
    if every is None:
        # Webhooks can be lost: the schedule is what guarantees the warehouse catches up.
        raise BadConfiguration("--listen needs --every (the schedule catches up on missed webhooks)")
    if not secret:
        raise BadConfiguration(
            "STRIPE_WEBHOOK_SECRET is not set: --listen needs the endpoint's signing secret (whsec_...)"
        )
    if not secret.startswith("whsec_"):
        raise BadConfiguration("STRIPE_WEBHOOK_SECRET must be an endpoint signing secret (whsec_...)")
    return ListenOptions(host, port, secret)


def applied_cursor(db: Path) -> int | None:
    """`created` of the newest event the published warehouse has applied, if any."""
    try:
        value = published_cursor(db)
    except (duckdb.Error, DamagedWarehouse) as exc:
        log.warning("could not read the events cursor: %s", " ".join(str(exc).split())[:200])
        return None
    return None if value in (None, NO_EVENTS) else int(value)


class RunSchedule:
    """When the sync loop starts its next run: `every` after the previous run started,
    or DEBOUNCE_SECONDS after the first webhook that asked for one, whichever is first.

    Events that arrive while a run is going wait for the next one, so at most one run
    waits behind the running one however many deliveries come in.
    """

    def __init__(self, every: float, db: Path, debounce: float = DEBOUNCE_SECONDS) -> None:
        self.every = every
        self.db = db
        self.debounce = debounce
        self._changed = threading.Condition()
        self._waiting: dict[str, int] = {}  # event id -> created, for the next run
        self._running: dict[str, int] = {}  # events the current run was started for
        self._due: float | None = None  # monotonic time the nudged run starts
        self._applied: OrderedDict[str, None] = OrderedDict()
        self._cursor: int | None = None

    def nudge(self, event_id: str, created: int) -> str:
        """Ask for a run for this event: 'queued', 'already applied' or 'already queued'."""
        with self._changed:
            # Strictly before the cursor: an event of the cursor's own second may have been
            # written after the run read the list, and an extra run is cheap.
            if event_id in self._applied or (self._cursor is not None and created < self._cursor):
                return "already applied"
            if event_id in self._waiting or event_id in self._running:
                return "already queued"
            self._waiting[event_id] = created
            if self._due is None:
                self._due = time.monotonic() + self.debounce
                self._changed.notify_all()
            return "queued"

    def next_run(self, started: float) -> int:
        """Block until the next run is due (`started`: time.monotonic() when the previous
        run started); answer how many webhook events it was asked for."""
        deadline = started + self.every
        with self._changed:
            while True:
                now = time.monotonic()
                due = deadline if self._due is None else min(deadline, self._due)
                if now >= due:
                    # A scheduled run covers the waiting events just as well.
                    self._running, self._waiting, self._due = self._waiting, {}, None
                    if self._running:
                        log.info("sync starting for %d webhook event(s)", len(self._running))
                    return len(self._running)
                self._changed.wait(due - now)

    def finished(self, published: bool) -> None:
        """The run is over; if it published, its events and the new cursor count as applied.

        A failed run's events are not retried here: Stripe got its 200, and the next
        scheduled run reads them from the Events API anyway.
        """
        cursor = applied_cursor(self.db) if published else None
        with self._changed:
            if published:
                for event_id in self._running:
                    self._applied[event_id] = None
                while len(self._applied) > REMEMBERED_EVENTS:
                    self._applied.popitem(last=False)
                self._cursor = cursor if cursor is not None else self._cursor
            self._running = {}

    def pending(self) -> int:
        """Events waiting for a run or in the running one."""
        with self._changed:
            return len(self._waiting) + len(self._running)


def _refusal(exc: stripe.SignatureVerificationError, header: str | None) -> str:
    # Our own words: the package's messages are long, and the exception holds the body.
    if not header:
        return "unsigned (no Stripe-Signature header)"
    message = str(exc)
    if message.startswith("Timestamp outside"):
        return "stale (signed more than 300 s ago)"
    if message.startswith("No signatures found matching"):
        return "signature does not match (forged, altered or another endpoint's secret)"
    return "malformed Stripe-Signature header"


def _event_fields(payload: bytes) -> tuple[str, str, int] | None:
    """Id, type and created of a Stripe event body, or None when it is not one."""
    try:
        event = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    event_id, event_type, created = event.get("id"), event.get("type"), event.get("created")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
        return None
    if not isinstance(event_type, str) or not isinstance(created, int) or isinstance(created, bool):
        return None
    return event_id, event_type[:100], created


class _Deliveries(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "billing-sync"
    sys_version = ""
    timeout = READ_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        # One line per delivery is logged below; the default access log adds nothing.
        return

    def do_POST(self) -> None:
        listener: WebhookListener = self.server.listener  # type: ignore[attr-defined]
        if urlsplit(self.path).path != WEBHOOK_PATH:
            self._answer(404, "not found")
            return
        length = self.headers.get("Content-Length", "")
        if self.headers.get("Transfer-Encoding") or not length.isdigit():
            self._refuse(400, "no Content-Length (Stripe always sends one)")
            return
        if int(length) > MAX_BODY_BYTES:
            # Not read: the connection is closed instead of draining a body that large.
            self.close_connection = True
            self._refuse(413, f"body of {int(length):,} bytes is over the 1 MB limit")
            return
        payload = self.rfile.read(int(length))
        if len(payload) < int(length):
            self._refuse(400, "body shorter than its Content-Length")
            return
        header = self.headers.get("Stripe-Signature")
        try:
            stripe.WebhookSignature.verify_header(
                payload, header, listener.secret, stripe.Webhook.DEFAULT_TOLERANCE
            )
        except stripe.SignatureVerificationError as exc:
            self._refuse(400, _refusal(exc, header))
            return
        except UnicodeDecodeError:
            self._refuse(400, "body is not UTF-8")
            return
        fields = _event_fields(payload)
        if fields is None:
            self._refuse(400, "signed body is not a Stripe event")
            return
        event_id, event_type, created = fields
        if event_type in EVENT_TYPES:
            verdict = listener.schedule.nudge(event_id, created)
        else:
            verdict = "ignored (the sync does not read this type)"
        log.info("webhook %s %s: %s", event_id, event_type, verdict)
        self._answer(200, verdict)

    def _not_a_delivery(self) -> None:
        self.close_connection = True  # any body it sent is left unread
        if urlsplit(self.path).path == WEBHOOK_PATH:
            self._answer(405, "only POST", {"Allow": "POST"})
        else:
            self._answer(404, "not found")

    do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_a_delivery

    def _refuse(self, status: int, reason: str) -> None:
        log.warning("webhook refused (%d): %s", status, reason)
        self._answer(status, reason)

    def _answer(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"received": status == 200, "message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of deliveries queues instead of being refused


class _Server6(_Server):
    address_family = socket.AF_INET6


class WebhookListener:
    """`POST /stripe/webhook` on a background thread; each accepted event nudges `schedule`."""

    def __init__(self, options: ListenOptions, schedule: RunSchedule) -> None:
        self.secret = options.secret
        self.schedule = schedule
        server = _Server6 if ":" in options.host else _Server
        self.httpd = server((options.host, options.port), _Deliveries)  # OSError: port taken, ...
        self.httpd.listener = self  # type: ignore[attr-defined]
        host = f"[{options.host}]" if ":" in options.host else options.host
        self.url = f"http://{host}:{options.port}{WEBHOOK_PATH}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="webhooks", daemon=True
        )
        self._thread.start()
        log.info("listening for Stripe webhooks at %s", self.url)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
