"""Least-privilege keys, checked against the sandbox's request log (issues 9 and 13).

The console's key writes only billing-portal sessions (POST /v1/billing_portal/sessions,
"Customer portal: Write") and reads only the customer it acts for: the customer, their
subscriptions and invoices (the live re-check). The sync's key only ever reads (GET).
Each side is given both restricted keys in its environment and must use only its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, notices
from tests.portal.conftest import PORTAL_KEY, READ_KEY, dunning_customer

PORTAL_CALL = ("POST", "/v1/billing_portal/sessions")
# What the console's key may read (README, "Restricted Stripe keys"): the live look at one customer.
LIVE_READS = {"/v1/subscriptions", "/v1/invoices"}


def made_a_link(at) -> bool:
    """The panel's success message, and no error beyond the customer's delinquency notice."""
    problems = [e.value for e in at.error if "Delinquent" not in e.value] + notices(at, "error")
    return not at.exception and not problems and bool(notices(at, "success"))


def requests_since(sandbox, start: int) -> list:
    return sandbox.requests.snapshot()[start:]


def test_the_sandbox_enforces_the_restricted_keys(portal_sandbox):
    """Otherwise the checks below would prove nothing: a wrong call must be refused."""
    import stripe

    console = stripe.StripeClient(PORTAL_KEY, base_addresses={"api": portal_sandbox.base_url})
    for refused in (console.v1.charges.list, console.v1.products.list, console.v1.events.list):
        with pytest.raises(stripe.PermissionError):
            refused({"limit": 1})
    reader = stripe.StripeClient(READ_KEY, base_addresses={"api": portal_sandbox.base_url})
    with pytest.raises(stripe.PermissionError):
        reader.v1.billing_portal.sessions.create({"customer": "cus_x"})


def test_console_uses_only_its_portal_key_for_portal_sessions(
    stripe_settings, settings_with, open_page, portal_sandbox, smtp
):
    settings_with(STRIPE_SYNC_API_KEY=READ_KEY, **smtp.env())  # the sync's key is there too, unused
    start = len(portal_sandbox.requests)
    customer_id = dunning_customer(stripe_settings)
    for page in ("customers", "dunning_queue", "invoices", "sync_status"):
        assert not open_page("admin", page).exception
    at = open_page("support", "customer", id=customer_id)
    at.button(key=f"portal_link_{customer_id}_copy").click().run()
    assert made_a_link(at)
    at.button(key=f"portal_link_{customer_id}_done_again").click().run()
    at.button(key=f"portal_link_{customer_id}_email").click().run()
    assert made_a_link(at)
    assert len(smtp.received) == 1

    made = requests_since(portal_sandbox, start)
    assert [(r.method, r.path) for r in made if r.method != "GET"] == [PORTAL_CALL, PORTAL_CALL]
    # Each link was preceded by a live re-check of that one customer, and nothing else was read.
    reads = {r.path for r in made if r.method == "GET"}
    assert reads == {f"/v1/customers/{customer_id}", *LIVE_READS}
    assert {r.key for r in made} == {PORTAL_KEY}


def test_sync_uses_only_its_read_key_and_only_reads(portal_sandbox, console_env, tmp_path: Path):
    env = {
        **os.environ,
        "STRIPE_SYNC_API_KEY": READ_KEY,
        "STRIPE_PORTAL_API_KEY": PORTAL_KEY,  # the console's key is there too, unused
        "STRIPE_API_BASE": portal_sandbox.base_url,
    }
    start = len(portal_sandbox.requests)
    for _ in range(2):  # a full backfill, then an incremental run
        done = subprocess.run(
            [sys.executable, "-m", "sync", "--db", str(tmp_path / "billing.duckdb")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    made = requests_since(portal_sandbox, start)
    assert len(made) > 10
    assert {r.method for r in made} == {"GET"}
    assert {r.key for r in made} == {READ_KEY}
    assert all(r.path.startswith("/v1/") and "billing_portal" not in r.path for r in made)
