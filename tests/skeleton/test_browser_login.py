"""A real headless Chromium signs in to a real console server and sees the home page."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, browser_sign_in, submit_sign_in

pytestmark = pytest.mark.browser


def test_support_signs_in_and_sees_home(console_server, browser):
    page = browser.new_page()
    browser_sign_in(page, console_server, "sam")
    page.get_by_text("Welcome, Sam Tester").wait_for(timeout=30_000)
    assert page.get_by_role("link", name="Customers").first.is_visible()
    assert page.get_by_text("Churn").count() == 0  # not a support page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "home-support.png"), full_page=True)


def test_wrong_password_in_browser(console_server, browser):
    page = browser.new_page()
    submit_sign_in(page, console_server, "sam", "wrong-password")
    refused = page.get_by_text("Wrong username or password.")
    refused.wait_for(timeout=30_000)
    assert page.get_by_role("button", name="Sign out").count() == 0
