"""Sign-in gate and per-role navigation, through Streamlit's AppTest."""

from __future__ import annotations

import pytest

from console.staff import roles
from tests.conftest import STAFF_PASSWORDS

EXPECTED_PAGES = {
    "support": {"Home", "Customers", "Dunning queue"},
    "finance": {"Home", "Customers", "Invoices", "Dunning outcomes", "Churn"},
    "admin": {
        "Home", "Customers", "Dunning queue", "Invoices", "Dunning outcomes", "Churn",
        "Sync status", "Audit log", "Outbox", "Sign-ins",
    },
}  # fmt: skip


def sign_in(at, username: str, password: str):
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click()
    return at.run()


def test_anonymous_visitor_sees_only_the_sign_in_form(app_as):
    at = app_as(None).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert not at.sidebar.button  # no sign-out, no navigation
    assert "Welcome" not in " ".join(t.value for t in at.text)


def test_wrong_password_is_refused(app_as):
    at = sign_in(app_as(None).run(), "sam", "not-the-password")
    assert [e.value for e in at.error] == ["Wrong username or password."]
    assert "staff" not in at.session_state


def test_right_password_signs_in(app_as):
    at = sign_in(app_as(None).run(), "sam", STAFF_PASSWORDS["sam"])
    assert not at.exception
    assert at.session_state["staff"].role == "support"
    assert any("Welcome, Sam Tester" in t.value for t in at.text)


@pytest.mark.parametrize("role", ["support", "finance", "admin"])
def test_navigation_lists_exactly_the_role_pages(app_as, role):
    visible = {p.title for p in roles.pages_for(role) if not p.hidden}
    assert visible == EXPECTED_PAGES[role]
    at = app_as(role).run()
    assert not at.exception
    links = {link.label for link in at.get("page_link")}
    assert links == EXPECTED_PAGES[role] - {"Home"}


@pytest.mark.parametrize(
    ("role", "page"),
    [("support", "churn"), ("support", "invoices"), ("finance", "dunning_queue"), ("finance", "audit"),
     ("support", "sync_status"), ("finance", "outbox"), ("support", "sign_ins"), ("finance", "sign_ins")],
)  # fmt: skip
def test_role_without_the_right_is_refused_on_a_direct_page(app_as, role, page):
    at = app_as(role, f"pages/{page}.py").run()
    assert len(at.error) == 1
    assert "does not give access" in at.error[0].value
    assert not at.title  # the refusal and nothing else


def test_navigation_does_not_register_a_forbidden_page(app_as):
    at = app_as("finance").run()
    at.switch_page("../pages/churn.py").run()
    assert not at.exception and not at.error
    support = app_as("support").run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        support.switch_page("../pages/churn.py")


def test_anonymous_direct_page_is_refused(app_as):
    at = app_as(None, "pages/customers.py").run()
    assert [e.value for e in at.error] == ["Please sign in to use the billing console."]


def test_sign_out_ends_the_session(app_as):
    at = app_as("admin").run()
    at.sidebar.button[0].click().run()
    assert "staff" not in at.session_state
    assert [t.label for t in at.text_input] == ["Username", "Password"]


def test_app_refuses_to_start_without_cookie_key(app_as, monkeypatch):
    monkeypatch.delenv("COOKIE_KEY")
    at = app_as(None).run()
    assert "COOKIE_KEY" in at.error[0].value
    assert not at.text_input
