"""End to end in a real browser: support emails a card-update link to a customer in dunning, the
customer's mail server receives it, its link opens the sandbox portal, and the audit log shows it."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.conftest import ARTIFACTS, WAIT_MS, browser_sign_in
from tests.portal.conftest import dunning_customer, warehouse_rows

pytestmark = pytest.mark.browser


def sign_in(browser, url: str, username: str):
    page = browser.new_context(accept_downloads=True).new_page()
    browser_sign_in(page, url, username)  # waits for the cookie: the next goto must not outrun it
    page.get_by_text(f"Welcome, {username.title()} Tester").first.wait_for(timeout=WAIT_MS)
    return page


def test_support_emails_a_card_update_link_that_opens_the_portal(
    request, browser, stripe_settings, smtp, settings_with, portal_sandbox
):
    settings = settings_with(**smtp.env(), COMPANY_NAME="Acme Cloud")
    url = request.getfixturevalue("console_server")  # started after the settings above are in place
    customer_id = dunning_customer(settings)
    name, email = warehouse_rows(settings, "SELECT name, email FROM customers WHERE id = ?", customer_id)[0]

    page = sign_in(browser, url, "sam")
    page.get_by_role("link", name="Dunning queue").first.click()
    page.get_by_text("Open invoices charged automatically").wait_for(timeout=WAIT_MS)
    page.goto(f"{url}/customer?id={customer_id}")
    page.get_by_role("button", name="Email to customer").wait_for(timeout=WAIT_MS)
    assert page.get_by_text(email, exact=True).first.is_visible()  # the one recipient, shown
    flow = page.get_by_role("combobox", name="What is the link for?")
    assert flow.input_value() == "Update payment method"  # preselected: the customer is in dunning
    page.get_by_role("button", name="Email to customer").click()
    page.get_by_text(f"Portal link emailed to {email}").wait_for(timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "portal-link-emailed.png"), full_page=True)

    [received] = smtp.received
    assert received.rcpt_tos == [email]
    plain = received.message.get_body(("plain",)).get_content()
    link = re.search(r"http://127\.0\.0\.1:\d+/p/session/\S+", plain).group(0)
    assert link.startswith(portal_sandbox.base_url)

    customer_view = browser.new_page()
    customer_view.goto(link)
    customer_view.get_by_role("heading", name="Update your payment method").wait_for(timeout=WAIT_MS)
    assert customer_view.locator("p.customer").inner_text() == f"Signed in as {name}"
    assert customer_view.locator("p.flow").get_attribute("data-flow") == "payment_method_update"

    admin = sign_in(browser, url, "ada")
    admin.goto(f"{url}/audit")
    admin.get_by_label("Customer id").fill(customer_id)
    admin.get_by_label("Customer id").press("Enter")
    admin.get_by_text("1 rows").wait_for(timeout=WAIT_MS)
    with admin.expect_download() as download:
        admin.get_by_role("button", name="Export CSV").click()
    [row] = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert (row["agent"], row["customer_id"], row["flow"], row["delivery"], row["outcome"]) == (
        "sam", customer_id, "payment_method_update", "email", "emailed",
    )  # fmt: skip
    assert row["stripe_session_id"].startswith("bps_") and "/p/session/" not in str(row)
