"""Run the sandbox in a background thread for tests and benchmarks."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.server import Faults, RequestLog, Sandbox
from sandbox.webhooks import WebhookSender


@dataclass
class SandboxHandle:
    base_url: str
    api_key: str
    requests: RequestLog
    server: Sandbox

    def apply_changes(self, count: int, seed: int | None = None) -> dict[str, Any]:
        """Apply `count` realistic changes now (objects updated, events recorded)."""
        return self.server.apply_changes(count, seed)

    def change_customer(self, customer_id: str, action: str, value: str | None = None) -> bool:
        """One exact change now: "email" (to `value`), "cancel" (subscription `value`) or "delete"."""
        return self.server.change_customer(customer_id, action, value)

    def set_faults(self, **faults: float) -> None:
        """Change faults while running, e.g. set_faults(rate_limit=5) or set_faults(latency_ms=0)."""
        self.server.set_faults(**faults)

    def set_portal_configured(self, configured: bool) -> None:
        self.server.portal.configured = configured

    def set_portal_ttl(self, seconds: int) -> None:
        self.server.portal.ttl_seconds = seconds

    def admin(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call an admin endpoint over HTTP (POST with a JSON body, or GET without one)."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - the sandbox's own loopback URL
            f"{self.base_url}{path}", data=data, method="GET" if data is None else "POST"
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read())


@contextmanager
def running_sandbox(
    data: Path,
    *,
    port: int = 0,
    latency_ms: float = 0.0,
    rate_limit: float = 0.0,
    error_rate: float = 0.0,
    drop_rate: float = 0.0,
    truncate_rate: float = 0.0,
    restricted_keys: dict[str, str] | None = None,
    portal_ttl: int = 300,
    portal_configured: bool = True,
    fault_seed: int | None = None,
    in_place: bool = False,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> Iterator[SandboxHandle]:
    """Serve the account in `data` on 127.0.0.1 (a free port unless given) until the block ends.

    The server works on a private copy of the account unless `in_place` (then changes
    are written to `data` itself; worth it only for very large read-only accounts).
    With `webhook_url`, every new event is sent there, signed with `webhook_secret`."""
    faults = Faults(latency_ms, rate_limit, error_rate, drop_rate, truncate_rate)
    server = Sandbox(
        data,
        port=port,
        restricted_keys=restricted_keys,
        faults=faults,
        portal_ttl=portal_ttl,
        portal_configured=portal_configured,
        fault_seed=fault_seed,
        in_place=in_place,
        webhooks=WebhookSender(webhook_url, webhook_secret or "") if webhook_url else None,
    )
    thread = threading.Thread(target=server.serve_forever, name="sandbox", daemon=True)
    thread.start()
    try:
        yield SandboxHandle(server.base_url, server.api_key, server.requests, server)
    finally:
        server.close()
        thread.join(timeout=5)
