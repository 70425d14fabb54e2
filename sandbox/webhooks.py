"""Webhooks as Stripe sends them: every new event, signed, POSTed to one endpoint.

Delivery runs on its own thread, so a request to the sandbox (a payment on the hosted
invoice page, a change) never waits for the endpoint. A failed delivery is retried a
few times with growing pauses, each attempt signed afresh as Stripe does, then dropped:
the receiver is expected to catch up from the Events API.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import threading
import time
import urllib.error
import urllib.request

log = logging.getLogger("sandbox")

RETRY_PAUSES_SECONDS = (0.5, 1.0, 2.0, 4.0)
TIMEOUT_SECONDS = 10  # Stripe's own limit for an endpoint to answer
MAX_WAITING = 10_000  # past this many undelivered events, new ones are dropped (and logged)


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` value: `t=<unix seconds>,v1=<HMAC-SHA256 of "t.payload">`."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    return f"t={t},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


class WebhookSender:
    """Delivers event bodies to `url`, in the order given, from a background thread."""

    def __init__(self, url: str, secret: str, retry_pauses: tuple[float, ...] = RETRY_PAUSES_SECONDS) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the webhook URL must start with http:// or https://")
        if not secret:
            raise ValueError("the webhook signing secret is empty")
        self.url = url
        self._secret = secret
        self._retry_pauses = retry_pauses
        self._waiting: queue.Queue[bytes | None] = queue.Queue(MAX_WAITING)
        self._closing = threading.Event()
        self.delivered = 0  # events the endpoint answered 2xx to
        self._thread = threading.Thread(target=self._deliver_all, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def send(self, events: list[bytes]) -> None:
        """Queue event bodies (JSON as the Events API serves them) for delivery."""
        for body in events:
            try:
                self._waiting.put_nowait(body)
            except queue.Full:
                log.warning("webhook queue full: an event was not delivered")

    def close(self) -> None:
        """Stop after the delivery in progress; events still queued are not sent."""
        self._closing.set()
        self._waiting.put(None)
        self._thread.join(timeout=TIMEOUT_SECONDS + 1)

    def _deliver_all(self) -> None:
        while True:
            body = self._waiting.get()
            if body is None or self._closing.is_set():
                return
            if self._deliver(body):
                self.delivered += 1

    def _deliver(self, body: bytes) -> bool:
        for pause in (0.0, *self._retry_pauses):
            if self._closing.wait(pause):
                return False
            request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
                self.url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": signature_header(body, self._secret),
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
                    answer.read()
                return True
            except urllib.error.HTTPError as error:
                reason = f"HTTP {error.code}"
            except OSError as error:
                reason = type(error).__name__
            log.warning("webhook delivery to %s failed (%s)", self.url, reason)
        return False
