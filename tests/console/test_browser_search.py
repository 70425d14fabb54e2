"""In a real browser: search, choose a result row, land on the customer's page (AppTest cannot click rows)."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, STAFF_PASSWORDS, submit_sign_in
from tests.console import warehouse_fixture as fx

pytestmark = pytest.mark.browser
WAIT_MS = 30_000


def test_search_then_choose_a_row_opens_the_customer(warehouse, console_server, browser):
    page = browser.new_page()
    submit_sign_in(page, console_server, "sam", STAFF_PASSWORDS["sam"])
    page.get_by_role("link", name="Customers").first.click()
    search = page.get_by_role("textbox", name="Search")
    search.fill("muller")
    search.press("Enter")
    page.get_by_text("1 customer(s)").wait_for(timeout=WAIT_MS)
    grid = page.locator("[data-testid='stDataFrame']").first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection marker
    page.wait_for_url(f"**/customer?id={fx.ZOE}", timeout=WAIT_MS)
    page.get_by_text("Zoë Müller", exact=True).wait_for(timeout=WAIT_MS)
    page.get_by_text("Payment attempts").first.wait_for(timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "customer-page.png"), full_page=True)
    assert page.get_by_role("link", name="Open in the Stripe dashboard").get_attribute("href") == (
        f"https://dashboard.stripe.com/test/customers/{fx.ZOE}"
    )
