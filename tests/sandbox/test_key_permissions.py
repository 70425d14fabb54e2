"""The restricted keys of README's "Restricted Stripe keys" table, as the sandbox enforces
them: the console's key reads customers, subscriptions, invoices and payment methods and
writes portal sessions; the sync's key only reads."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.testing import SandboxHandle, running_sandbox

CONSOLE_KEY, SYNC_KEY = "rk_test_console", "rk_test_sync"


@pytest.fixture(scope="module")
def keyed(sandbox_account: Path) -> Iterator[SandboxHandle]:
    with running_sandbox(
        sandbox_account, restricted_keys={CONSOLE_KEY: "console", SYNC_KEY: "read"}
    ) as handle:
        yield handle


def call(handle: SandboxHandle, key: str, method: str, path: str, form: str = "") -> tuple[int, dict]:
    request = urllib.request.Request(
        handle.base_url + path,
        data=form.encode() if method == "POST" else None,
        method=method,
        headers={"Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def a_customer(handle: SandboxHandle) -> str:
    return call(handle, SYNC_KEY, "GET", "/v1/customers?limit=1")[1]["data"][0]["id"]


@pytest.mark.parametrize("path", ["/v1/customers", "/v1/subscriptions?status=all", "/v1/invoices"])
def test_the_console_key_reads_what_the_customer_page_needs(keyed: SandboxHandle, path: str) -> None:
    status, listed = call(keyed, CONSOLE_KEY, "GET", path)
    assert status == 200 and listed["data"]
    one = listed["data"][0]["id"]
    assert call(keyed, CONSOLE_KEY, "GET", f"{path.split('?')[0]}/{one}")[0] == 200


def test_the_console_key_may_read_payment_methods(keyed: SandboxHandle) -> None:
    customer = a_customer(keyed)
    for path in ("/v1/payment_methods", f"/v1/customers/{customer}/payment_methods"):
        status, _ = call(keyed, CONSOLE_KEY, "GET", path)
        assert status != 403, path  # allowed; 404 until the sandbox serves payment methods


def test_the_console_key_makes_portal_sessions(keyed: SandboxHandle) -> None:
    status, session = call(
        keyed, CONSOLE_KEY, "POST", "/v1/billing_portal/sessions", f"customer={a_customer(keyed)}"
    )
    assert status == 200 and session["object"] == "billing_portal.session"


@pytest.mark.parametrize(
    ("method", "path", "permission"),
    [
        ("GET", "/v1/events", "rak_event_read"),
        ("GET", "/v1/charges", "rak_charge_read"),
        ("GET", "/v1/products", "rak_product_read"),
        ("GET", "/v1/invoice_payments", "rak_invoice_payment_read"),
        ("GET", "/v1/payment_intents", "rak_payment_intent_read"),
        ("POST", "/v1/customers", "rak_customer_write"),
    ],
)
def test_the_console_key_is_refused_everything_else(
    keyed: SandboxHandle, method: str, path: str, permission: str
) -> None:
    status, body = call(keyed, CONSOLE_KEY, method, path, "email=x%40example.com")
    assert status == 403 and permission in body["error"]["message"]


def test_the_sync_key_is_read_only(keyed: SandboxHandle) -> None:
    for path in ("/v1/events", "/v1/charges", "/v1/customers", "/v1/invoice_payments"):
        assert call(keyed, SYNC_KEY, "GET", path)[0] == 200, path
    customer = a_customer(keyed)
    status, body = call(keyed, SYNC_KEY, "POST", "/v1/billing_portal/sessions", f"customer={customer}")
    assert status == 403 and "rak_billing_portal_session_write" in body["error"]["message"]
    assert call(keyed, SYNC_KEY, "POST", "/v1/customers", "email=x%40example.com")[0] == 403
