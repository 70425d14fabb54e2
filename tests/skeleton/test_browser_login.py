"""A real headless Chromium signs in to a real console server and sees the home page."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, STAFF_PASSWORDS

pytestmark = pytest.mark.browser


def test_support_signs_in_and_sees_home(console_server, browser):
    page = browser.new_page()
    page.goto(console_server)
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password", exact=True).fill(STAFF_PASSWORDS["sam"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Welcome, Sam Tester").wait_for(timeout=30_000)
    assert page.get_by_role("link", name="Customers").first.is_visible()
    assert page.get_by_text("Churn").count() == 0  # not a support page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "home-support.png"), full_page=True)


def test_wrong_password_in_browser(console_server, browser):
    page = browser.new_page()
    page.goto(console_server)
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password", exact=True).fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Wrong username or password.").wait_for(timeout=30_000)
