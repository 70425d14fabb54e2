"""In a real browser at a laptop's size: the queue's key columns are in view without scrolling
sideways, and page state kept in the address survives reload and Back."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, STAFF_PASSWORDS, submit_sign_in
from tests.console import warehouse_fixture as fx

pytestmark = pytest.mark.browser
WAIT_MS = 30_000
VIEWPORT = {"width": 1440, "height": 900}
KEY_COLUMNS = ["Customer", "At risk", "Days", "Next retry", "Last decline", "Card expiry", "Work state"]


def signed_in_page(browser, console_server):
    page = browser.new_page(viewport=VIEWPORT)
    submit_sign_in(page, console_server, "sam", STAFF_PASSWORDS["sam"])
    return page


def grid_geometry(page) -> dict:
    """The first table's box, and whether its scroller could move sideways.

    Streamlit draws tables on a canvas (glide-data-grid); its scroller element holds the
    full width of the columns, so scrollWidth > clientWidth means a sideways scroll.
    (Probed on Streamlit 1.67: the scroller is the element classed stDataFrameGlideDataEditor.)
    """
    # The one drawn table: a collapsed expander's table is in the page too, without headers.
    grid = page.locator("[data-testid='stDataFrame']").filter(has=page.locator("th", has_text="Work state"))
    return {
        "box": grid.bounding_box(),
        "headers": grid.locator("th").all_text_contents(),  # the grid's accessible (hidden) table
        **grid.locator(".stDataFrameGlideDataEditor").first.evaluate(
            "s => ({scrollWidth: s.scrollWidth, clientWidth: s.clientWidth})"
        ),
    }


def test_queue_key_columns_are_in_view_at_1440_by_900(warehouse, console_server, browser):
    page = signed_in_page(browser, console_server)
    page.goto(f"{console_server}/dunning_queue")
    page.get_by_text(re.compile(r"4 invoice\(s\)")).wait_for(timeout=WAIT_MS)
    expect(page.locator("[data-testid='stDataFrame'] th")).to_have_count(len(KEY_COLUMNS), timeout=WAIT_MS)
    page.wait_for_timeout(500)  # the grid's first layout pass
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dunning-queue-1440x900.png"))
    geometry = grid_geometry(page)
    box = geometry["box"]
    assert geometry["headers"] == KEY_COLUMNS  # only these are drawn; details sit behind the row
    assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]
    assert geometry["scrollWidth"] <= geometry["clientWidth"], geometry
    # The page itself does not scroll sideways either.
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]


def test_queue_filters_survive_a_reload(warehouse, console_server, browser):
    page = signed_in_page(browser, console_server)
    page.goto(f"{console_server}/dunning_queue")
    page.get_by_text("USD", exact=True).click()
    expect(page).to_have_url(re.compile(r"/dunning_queue\?currency=usd$"), timeout=WAIT_MS)
    page.get_by_text(re.compile(r"^2 invoice\(s\)")).wait_for(timeout=WAIT_MS)
    page.reload()
    page.get_by_text(re.compile(r"^2 invoice\(s\)")).wait_for(timeout=WAIT_MS)
    assert page.url.endswith("/dunning_queue?currency=usd")


def test_search_in_the_address_survives_reload_and_back(warehouse, console_server, browser):
    page = signed_in_page(browser, console_server)
    page.get_by_role("link", name="Customers").first.click()
    search = page.get_by_role("textbox", name="Search")
    search.fill("example.com")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/customers\?q=example\.com$"), timeout=WAIT_MS)
    page.get_by_text("5 customer(s)").wait_for(timeout=WAIT_MS)
    page.reload()
    page.get_by_text("5 customer(s)").wait_for(timeout=WAIT_MS)
    expect(page.get_by_role("textbox", name="Search")).to_have_value("example.com", timeout=WAIT_MS)
    # Open a customer from a row, then come back with the browser's Back.
    grid = page.locator("[data-testid='stDataFrame']").first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
    page.wait_for_url("**/customer?id=*", timeout=WAIT_MS)
    page.get_by_text("Payment attempts").first.wait_for(timeout=WAIT_MS)
    page.go_back()
    expect(page).to_have_url(re.compile(r"/customers\?q=example\.com$"), timeout=WAIT_MS)
    expect(page.get_by_role("textbox", name="Search")).to_have_value("example.com", timeout=WAIT_MS)
    page.get_by_text("5 customer(s)").wait_for(timeout=WAIT_MS)


def test_a_typed_invoice_number_opens_the_customer(warehouse, console_server, browser):
    page = signed_in_page(browser, console_server)
    page.get_by_role("link", name="Customers").first.click()
    search = page.get_by_role("textbox", name="Search")
    search.fill(fx.JOSE_OPEN_NUMBER.lower())
    search.press("Enter")
    page.wait_for_url(f"**/customer?id={fx.JOSE}", timeout=WAIT_MS)
    page.get_by_text("José Álvarez", exact=True).wait_for(timeout=WAIT_MS)
