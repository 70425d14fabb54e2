"""Faults on demand, and changes applied to a running account."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import stripe

from sandbox.changes import SPREAD_SECONDS, apply_changes
from sandbox.store import ACCOUNT_FILE
from sandbox.testing import SandboxHandle, running_sandbox
from tests.sandbox.conftest import client_for

ROOT = Path(__file__).resolve().parents[2]


def test_rate_limit_answers_429_with_stripes_body(sandbox_account: Path) -> None:
    with running_sandbox(sandbox_account, rate_limit=3) as handle:
        client = client_for(handle)
        with pytest.raises(stripe.RateLimitError) as limited:
            for _ in range(20):
                client.v1.products.list({"limit": 1})
        error = limited.value
        assert error.http_status == 429
        assert error.json_body["error"]["code"] == "rate_limit"
        assert error.json_body["error"]["type"] == "invalid_request_error"
        assert "rate limit" in error.json_body["error"]["message"].lower()
        handle.set_faults(rate_limit=0)
        assert client.v1.products.list({"limit": 1}).data


def test_latency_is_applied(sandbox_account: Path) -> None:
    with running_sandbox(sandbox_account, latency_ms=150) as handle:
        client = client_for(handle)
        started = time.monotonic()
        for _ in range(3):
            client.v1.customers.list({"limit": 1})
        assert time.monotonic() - started >= 0.45


def test_server_errors_carry_should_retry(sandbox_account: Path) -> None:
    with running_sandbox(sandbox_account, error_rate=1.0) as handle:
        with pytest.raises(stripe.APIError) as failed:
            client_for(handle).v1.customers.list()
        assert failed.value.http_status in (500, 503)
        assert failed.value.headers["Stripe-Should-Retry"] == "true"
        assert failed.value.json_body["error"]["type"] == "api_error"


def test_retries_ride_over_errors_and_dropped_connections(sandbox_account: Path) -> None:
    with running_sandbox(sandbox_account, error_rate=0.3, drop_rate=0.2, fault_seed=5) as handle:
        client = client_for(handle, retries=8)
        stripe_client_listed = [c.id for c in client.v1.customers.list({"limit": 10}).auto_paging_iter()]
        assert len(stripe_client_listed) == len(set(stripe_client_listed)) > 0
        assert len(handle.requests) > len(stripe_client_listed) // 10


def test_dropped_and_truncated_answers_fail_the_request(sandbox_account: Path) -> None:
    with (
        running_sandbox(sandbox_account, drop_rate=1.0) as handle,
        pytest.raises(stripe.APIConnectionError),
    ):
        client_for(handle).v1.customers.list()
    with (
        running_sandbox(sandbox_account, truncate_rate=1.0) as handle,
        pytest.raises((stripe.APIConnectionError, stripe.APIError)),
    ):
        client_for(handle).v1.customers.list({"limit": 100})


def test_changes_update_objects_and_add_events(own_sandbox: SandboxHandle) -> None:
    client = client_for(own_sandbox)
    before_events = [e.id for e in client.v1.events.list({"limit": 100}).auto_paging_iter()]
    before_customers = len(list(client.v1.customers.list({"limit": 100}).auto_paging_iter()))
    started = int(time.time())
    summary = own_sandbox.apply_changes(60, seed=11)
    assert sum(summary["changes"].values()) == 60 and summary["events"] > 60
    # Changes are spread over the last SPREAD_SECONDS, not stamped with the current second.
    since = started - SPREAD_SECONDS - 1
    listed = client.v1.events.list({"limit": 100, "created": {"gte": since}}).auto_paging_iter()
    new = [event for event in listed if event.id not in set(before_events)]
    assert len(new) == summary["events"]
    assert len({event.created for event in new}) > 10
    # The newest event of each changed object is the object as the API now serves it.
    newest: dict[str, stripe.Event] = {}
    for event in new:
        newest.setdefault(event.data.object["id"], event)
    retrieve = {
        "customer": client.v1.customers.retrieve,
        "subscription": client.v1.subscriptions.retrieve,
        "invoice": client.v1.invoices.retrieve,
        "charge": client.v1.charges.retrieve,
        "payment_intent": client.v1.payment_intents.retrieve,
    }
    for oid, event in newest.items():
        kind = event.data.object["object"]
        if kind in retrieve and event.type != "customer.deleted":
            assert retrieve[kind](oid).to_dict() == event.data.object.to_dict(), event.type
    after_customers = len(list(client.v1.customers.list({"limit": 100}).auto_paging_iter()))
    assert after_customers != before_customers


def test_change_sets_made_in_one_second_keep_each_objects_newest_event_current(
    sandbox_account: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Sets applied in the second of the previous set's last events: whatever a change
    stamps "just before" another (a failed renewal ahead of its retry, a cancellation
    ahead of a deletion) lands in that second, never before events already recorded, so the
    events list (created desc, then id desc) still shows each object's current state first."""
    shutil.copy(sandbox_account / ACCOUNT_FILE, tmp_path / ACCOUNT_FILE)
    db = sqlite3.connect(tmp_path / ACCOUNT_FILE)
    request.addfinalizer(db.close)
    now = int(time.time())
    made = sum(apply_changes(db, 15, seed=seed, now=now)["events"] for seed in (1, 2, 3))
    listed = db.execute(
        "SELECT type, body FROM events WHERE created >= ? ORDER BY created DESC, id DESC",
        (now - SPREAD_SECONDS,),
    ).fetchall()
    assert len(listed) == made
    newest: dict[str, tuple[str, dict]] = {}
    for kind, body in listed:
        obj = json.loads(body)["data"]["object"]
        newest.setdefault(obj["id"], (kind, obj))
    tables = {"customer": "customers", "subscription": "subscriptions", "invoice": "invoices"}
    tables |= {"payment_intent": "payment_intents", "charge": "charges", "payment_method": "payment_methods"}
    checked = 0
    for oid, (kind, obj) in newest.items():
        if obj["object"] in tables and kind != "customer.deleted":
            table = tables[obj["object"]]
            (stored,) = db.execute(f"SELECT body FROM {table} WHERE id = ?", (oid,)).fetchone()  # noqa: S608
            assert json.loads(stored) == obj, (kind, oid)
            checked += 1
    assert checked > 50


def test_change_endpoint_and_cli(own_sandbox: SandboxHandle) -> None:
    answer = own_sandbox.admin("/_sandbox/changes", {"count": 5, "seed": 1})
    assert sum(answer["changes"].values()) == 5
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "change", "--url", own_sandbox.base_url, "--count", "3"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert sum(json.loads(done.stdout)["changes"].values()) == 3
    request = urllib.request.Request(own_sandbox.base_url + "/_sandbox/changes", data=b'{"count": 0}')
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400


def test_requests_are_logged_with_the_key_used(own_sandbox: SandboxHandle) -> None:
    own_sandbox.requests.clear()
    client_for(own_sandbox).v1.prices.list({"limit": 2})
    assert [(r.method, r.path, r.key) for r in own_sandbox.requests] == [
        ("GET", "/v1/prices", own_sandbox.api_key)
    ]
