"""Stripe webhooks nudge the sync: real HTTP on loopback, signatures checked by the real
`stripe` package, signed the way Stripe (and the sandbox) sign them."""

from __future__ import annotations

import http.client
import json
import logging
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import sync
from sandbox.store import iter_objects
from sandbox.testing import SandboxHandle
from sandbox.webhooks import signature_header
from sync.webhooks import WEBHOOK_PATH, ListenOptions, RunSchedule, WebhookListener, listen_options
from tests.conftest import free_port
from tests.sync.test_command import command_env, sync_command

SECRET = "whsec_" + secrets.token_hex(16)
MARKER = "marker-do-not-log@example.com"  # in every test body: must never reach the log


def event_body(
    event_id: str | None = None, event_type: str = "invoice.paid", created: int | None = None
) -> bytes:
    return json.dumps(
        {
            "id": event_id or "evt_test_" + secrets.token_hex(8),
            "object": "event",
            "type": event_type,
            "created": int(time.time()) if created is None else created,
            "data": {"object": {"id": "in_test", "object": "invoice", "customer_email": MARKER}},
        }
    ).encode()


def deliver(url: str, body: bytes, signature: str | None = None, method: str = "POST") -> tuple[int, str]:
    """POST (or `method`) a delivery; the status and the listener's one-line answer."""
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    request = urllib.request.Request(
        url, data=body if method != "GET" else None, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())["message"]
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b'{"message": ""}')["message"]


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[tuple[WebhookListener, RunSchedule]]:
    schedule = RunSchedule(3600, tmp_path / "billing.duckdb")
    listener = WebhookListener(ListenOptions("127.0.0.1", free_port(), SECRET), schedule)
    try:
        yield listener, schedule
    finally:
        listener.close()


def test_a_signed_delivery_is_queued_once_and_logged_without_its_body(
    listening: tuple[WebhookListener, RunSchedule], caplog: pytest.LogCaptureFixture
) -> None:
    listener, schedule = listening
    body = event_body("evt_test_once")
    with caplog.at_level(logging.INFO, logger="sync"):
        assert deliver(listener.url, body, signature_header(body, SECRET)) == (200, "queued")
        # Stripe redelivers (a timeout on its side, or days later): no second run.
        assert deliver(listener.url, body, signature_header(body, SECRET)) == (200, "already queued")
        deliver(listener.url, body, signature_header(body, "whsec_another"))
    assert schedule.pending() == 1
    lines = [record.getMessage() for record in caplog.records]
    assert "webhook evt_test_once invoice.paid: queued" in lines
    assert not any(MARKER in line or SECRET in line for line in lines)


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (lambda body: signature_header(body, "whsec_" + secrets.token_hex(16)), "does not match"),
        (
            lambda body: signature_header(body.replace(b"invoice.paid", b"invoice.void"), SECRET),
            "does not match",
        ),
        (lambda body: signature_header(body, SECRET, int(time.time()) - 301), "stale"),
        (lambda body: None, "unsigned"),
        (lambda body: "t=soon,v1=abc", "malformed"),
        (lambda body: f"t={int(time.time())},v0=abc", "malformed"),
    ],
    ids=["wrong-secret", "forged", "stale", "unsigned", "bad-timestamp", "no-v1"],
)
def test_unverifiable_deliveries_are_refused_and_schedule_nothing(
    listening: tuple[WebhookListener, RunSchedule], caplog: pytest.LogCaptureFixture, signature, reason: str
) -> None:
    listener, schedule = listening
    body = event_body()
    with caplog.at_level(logging.INFO, logger="sync"):
        status, message = deliver(listener.url, body, signature(body))
    assert status == 400 and reason in message
    assert schedule.pending() == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and reason in warnings[0] and MARKER not in warnings[0]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"id": "evt_1", "type": "invoice.paid"}',
        b'{"id": 5, "type": "x", "created": 1}',
    ],
    ids=["not-json", "not-an-object", "no-created", "id-not-a-string"],
)
def test_signed_but_malformed_events_are_refused(
    listening: tuple[WebhookListener, RunSchedule], body: bytes
) -> None:
    listener, schedule = listening
    assert deliver(listener.url, body, signature_header(body, SECRET)) == (
        400,
        "signed body is not a Stripe event",
    )
    assert schedule.pending() == 0


def test_event_types_the_sync_does_not_read_are_acknowledged_and_ignored(
    listening: tuple[WebhookListener, RunSchedule],
) -> None:
    listener, schedule = listening
    body = event_body(event_type="payout.paid")
    status, message = deliver(listener.url, body, signature_header(body, SECRET))
    assert status == 200 and message.startswith("ignored")
    assert schedule.pending() == 0


def test_an_oversized_body_is_refused_before_it_is_read(
    listening: tuple[WebhookListener, RunSchedule],
) -> None:
    listener, schedule = listening
    connection = http.client.HTTPConnection("127.0.0.1", listener.httpd.server_address[1], timeout=30)
    try:
        # Only the headers are sent: an answer proves the listener did not wait for 2 MB.
        connection.putrequest("POST", WEBHOOK_PATH)
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.putheader("Stripe-Signature", "t=1,v1=abc")
        connection.endheaders()
        answer = connection.getresponse()
        assert answer.status == 413
    finally:
        connection.close()
    assert schedule.pending() == 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", WEBHOOK_PATH, 405), ("PUT", WEBHOOK_PATH, 405), ("POST", "/webhook", 404), ("GET", "/", 404)],
)
def test_anything_but_a_post_to_the_endpoint_is_refused(
    listening: tuple[WebhookListener, RunSchedule], method: str, path: str, status: int
) -> None:
    listener, schedule = listening
    body = event_body()
    url = listener.url.replace(WEBHOOK_PATH, path)
    assert deliver(url, body, signature_header(body, SECRET), method=method)[0] == status
    assert schedule.pending() == 0


def test_a_burst_of_50_deliveries_makes_at_most_two_runs(
    listening: tuple[WebhookListener, RunSchedule],
) -> None:
    listener, schedule = listening
    runs: list[int] = []
    burst_answered = threading.Event()
    stop = threading.Event()

    def sync_loop() -> None:  # what `python -m sync --every 1h` does, with runs that last the burst
        started = time.monotonic()
        while True:
            events = schedule.next_run(started)
            if stop.is_set():
                return
            started = time.monotonic()
            runs.append(events)
            burst_answered.wait(120)
            schedule.finished(published=True)

    loop = threading.Thread(target=sync_loop, daemon=True)
    loop.start()
    bodies = [event_body(f"evt_burst_{n:02d}") for n in range(50)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda b: deliver(listener.url, b, signature_header(b, SECRET)), bodies))
    burst_answered.set()
    assert answers == [(200, "queued")] * 50
    deadline = time.monotonic() + 120
    while schedule.pending():
        assert time.monotonic() < deadline, f"events never handed to a run: {schedule.pending()}"
        time.sleep(0.05)
    assert 1 <= len(runs) <= 2 and sum(runs) == 50
    stop.set()
    schedule.nudge("evt_stop_the_loop", int(time.time()))
    loop.join(timeout=60)


def test_events_a_published_run_applied_schedule_nothing(
    sandbox: SandboxHandle, sandbox_account: Path, tmp_path: Path
) -> None:
    db = tmp_path / "billing.duckdb"
    sync.run(db, api_key=sandbox.api_key, api_base=sandbox.base_url, rate=500)
    schedule = RunSchedule(3600, db)
    listener = WebhookListener(ListenOptions("127.0.0.1", free_port(), SECRET), schedule)
    try:
        schedule.finished(published=True)  # as after the loop's first run: reads the cursor
        # An event from before the warehouse's events cursor, as Stripe redelivers for days.
        old = list(iter_objects(sandbox_account, "events"))[-1]
        body = json.dumps(old).encode()
        assert deliver(listener.url, body, signature_header(body, SECRET)) == (200, "already applied")

        # A new event, applied by a run, then delivered again.
        new = event_body("evt_test_new")
        assert deliver(listener.url, new, signature_header(new, SECRET)) == (200, "queued")
        assert schedule.next_run(time.monotonic() - 3600) == 1
        schedule.finished(published=True)
        assert deliver(listener.url, new, signature_header(new, SECRET)) == (200, "already applied")
        assert schedule.pending() == 0
    finally:
        listener.close()


@pytest.mark.parametrize(
    "text", ["8502", "127.0.0.1", "127.0.0.1:", ":8502", "127.0.0.1:0", "127.0.0.1:65536", "h:x"]
)
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(sync.BadConfiguration, match="--listen"):
        listen_options(text, 3600, SECRET)


def test_listen_addresses() -> None:
    assert listen_options("127.0.0.1:8502", 900, SECRET) == ListenOptions("127.0.0.1", 8502, SECRET)
    assert listen_options("[::1]:8502", 900, SECRET).host == "::1"
    with pytest.raises(sync.BadConfiguration, match="--every"):
        listen_options("127.0.0.1:8502", None, SECRET)
    with pytest.raises(sync.BadConfiguration, match="STRIPE_WEBHOOK_SECRET"):
        listen_options("127.0.0.1:8502", 900, "sk_test_not_a_signing_secret")


def test_a_taken_port_exits_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = command_env(tmp_path, STRIPE_API_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET=SECRET)
        done = sync_command("--every", "1h", "--listen", f"127.0.0.1:{port}", env=env)
    assert done.returncode == 2
    assert "cannot listen on" in done.stderr.strip().splitlines()[-1] and SECRET not in done.stderr
