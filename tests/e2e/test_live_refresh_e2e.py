"""In a real browser (issue 13): the customer pays their invoice on the sandbox's hosted page, no
sync runs, and support's "Refresh from Stripe" drops the Delinquent banner; the email support then
sends, after confirming the payment the re-check found, does not mention the paid invoice."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, WAIT_MS, browser_sign_in
from tests.portal.conftest import dunning_customer, dunning_invoice

pytestmark = pytest.mark.browser

BANNER = "Delinquent: Stripe marks this customer's latest payment as failed."


def test_a_payment_on_the_hosted_page_shows_on_refresh_and_stays_out_of_the_email(
    request, browser, live, console_env
):
    url = request.getfixturevalue("console_server")  # started after the live settings are in place
    customer_id = dunning_customer(live.settings)
    invoice_id, number, _ = dunning_invoice(live.settings, customer_id)
    hosted = f"{live.sandbox.base_url}/i/{invoice_id}"  # this test's own copy of the account

    page = browser.new_context().new_page()
    browser_sign_in(page, url, "sam")
    page.goto(f"{url}/customer?id={customer_id}")
    page.get_by_text(BANNER).wait_for(timeout=WAIT_MS)

    customer = browser.new_page()
    customer.goto(hosted)
    customer.get_by_role("button", name="Pay now").click()
    customer.locator("p.status[data-status='paid']").wait_for(timeout=WAIT_MS)

    page.get_by_role("button", name="Refresh from Stripe").click()
    page.get_by_text("Live from Stripe at ").wait_for(timeout=WAIT_MS)
    page.get_by_text(BANNER).wait_for(state="detached", timeout=WAIT_MS)
    page.get_by_text(f"Invoice {number} paid since the last sync.").first.wait_for(timeout=WAIT_MS)
    flow = page.get_by_role("combobox", name="What is the link for?")
    assert flow.input_value() == "Customer portal (everything)"  # no longer in dunning

    page.get_by_role("button", name="Email to customer").click()
    page.get_by_role("button", name="Confirm").wait_for(timeout=WAIT_MS)
    assert page.get_by_text("Stripe changed since the last sync:").first.is_visible()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("written to the outbox folder").wait_for(timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live-refresh-after-payment.png"), full_page=True)

    [written] = list(Path(console_env["OUTBOX_DIR"]).glob("*.eml"))
    message = message_from_bytes(written.read_bytes(), policy=policy.default)
    plain = message.get_body(("plain",)).get_content()
    assert number not in plain and invoice_id not in plain and "/i/" not in plain
