"""The sandbox sends each new event as a webhook signed as Stripe signs them, from a
background thread with retries: checked with the real `stripe` package."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import stripe

from sandbox.testing import SandboxHandle, running_sandbox
from tests.conftest import ROOT
from tests.sandbox.conftest import client_for

SECRET = "whsec_" + secrets.token_hex(16)


class Endpoint:
    """A webhook endpoint on loopback that records deliveries; it can fail or hold them."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, bytes]] = []  # (Stripe-Signature, body) answered 200
        self.failures_left = 0  # answer 500 to this many deliveries first
        self.release = threading.Event()
        self.release.set()
        self.arrived = threading.Event()
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.arrived.set()
                endpoint.release.wait(60)
                with endpoint.lock:
                    failing = endpoint.failures_left > 0
                    endpoint.failures_left -= failing
                    if not failing:
                        endpoint.deliveries.append((self.headers["Stripe-Signature"], body))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stripe/webhook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 60) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.deliveries) >= count:
                    return list(self.deliveries)
            assert time.monotonic() < deadline, f"{len(self.deliveries)} of {count} webhooks arrived"
            time.sleep(0.05)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    receiver = Endpoint()
    yield receiver
    receiver.release.set()
    receiver.httpd.shutdown()
    receiver.httpd.server_close()


@pytest.fixture
def sending(sandbox_account: Path, endpoint: Endpoint) -> Iterator[SandboxHandle]:
    with running_sandbox(sandbox_account, webhook_url=endpoint.url, webhook_secret=SECRET) as handle:
        yield handle


def test_every_new_event_is_sent_signed_and_verifies_with_stripe(
    sending: SandboxHandle, endpoint: Endpoint
) -> None:
    made = sending.admin("/_sandbox/changes", {"count": 5, "seed": 11})["events"]
    deliveries = endpoint.wait_for(made)
    events = [stripe.Webhook.construct_event(body, signature, SECRET) for signature, body in deliveries]
    listed = client_for(sending).v1.events.list({"limit": made})
    # Stripe does not promise the order of deliveries (the change set delivers one older
    # event late on purpose): every event arrives once, and only those.
    assert sorted(event.id for event in events) == sorted(event.id for event in listed.data)
    # The same bytes the Events API serves: hosted invoice URLs point at this server.
    assert all(b'"/i/in_' not in body for _, body in deliveries)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(deliveries[0][1], deliveries[0][0], "whsec_another")


def test_a_failed_delivery_is_retried(sending: SandboxHandle, endpoint: Endpoint) -> None:
    endpoint.failures_left = 2
    made = sending.apply_changes(1, seed=3)["events"]
    deliveries = endpoint.wait_for(made)
    assert len({body for _, body in deliveries}) == made  # each event once, after its retries


def test_paying_an_invoice_never_waits_for_the_endpoint(sending: SandboxHandle, endpoint: Endpoint) -> None:
    invoice = next(
        i for i in client_for(sending).v1.invoices.list({"status": "open", "limit": 1}).auto_paging_iter()
    )
    endpoint.release.clear()  # the endpoint holds every delivery until released
    pay = urllib.request.Request(f"{sending.base_url}/i/{invoice.id}/pay", data=b"", method="POST")
    with urllib.request.urlopen(pay, timeout=30) as answer:
        assert answer.status == 200
    assert endpoint.arrived.wait(60) and not endpoint.release.is_set()  # paid while it was held
    endpoint.release.set()
    types = [json.loads(body)["type"] for _, body in endpoint.wait_for(5)]
    assert "invoice.paid" in types


def test_serve_takes_the_signing_secret_from_the_environment_only(sandbox_account: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_WEBHOOK_SECRET"}
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "serve", "--data", str(sandbox_account), "--port", "0",
         "--webhook-url", "http://127.0.0.1:9/stripe/webhook"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "SANDBOX_WEBHOOK_SECRET" in done.stderr
