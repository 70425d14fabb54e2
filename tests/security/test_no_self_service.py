"""No self-service: staff accounts are made by an admin, never from the sign-in page (issue 9).

No registration, forgotten-password or forgotten-username widgets, no password
reset or detail editing by the user, no guest or OAuth sign-in, and never the
library's hosted email service (its `api_key`).
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT
from tests.security.conftest import WAIT_MS

PRODUCT_CODE = [ROOT / "console", ROOT / "pages"]
# streamlit-authenticator 0.4.2 entry points that let a visitor make or change an account,
# or that reach the library's cloud service.
SELF_SERVICE = {
    "register_user", "forgot_password", "forgot_username", "reset_password", "update_user_details",
    "send_password", "send_username", "guest_login", "experimental_guest_login",
    "generate_two_factor_auth_code", "check_two_factor_auth_code", "CloudModel",
}  # fmt: skip
CLOUD_ARGUMENTS = {"api_key", "server_url"}
# Authenticate(credentials, cookie_name, cookie_key, cookie_expiry_days, validator, auto_hash, api_key)
MAX_SAFE_POSITIONAL = 6


def self_service_uses(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
        if name in SELF_SERVICE:
            found.append(f"{node.lineno}: {name}")
        if isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            cloud = [k.arg for k in node.keywords if k.arg in CLOUD_ARGUMENTS]
            if cloud:
                found.append(f"{node.lineno}: {called}({cloud[0]}=...)")
            hidden = len(node.args) > MAX_SAFE_POSITIONAL or any(k.arg is None for k in node.keywords)
            if called in ("Authenticate", "AuthenticationController", "AuthenticationModel") and hidden:
                found.append(f"{node.lineno}: {called} with arguments that may carry api_key")
    return sorted(found, key=lambda hit: int(hit.split(":")[0]))


def test_the_scanner_catches_self_service():
    source = (
        "authenticator.register_user()\n"
        "a.forgot_password(location='main')\n"
        "stauth.Authenticate(c, 'n', k, 1, None, False, 'key')\n"
        "stauth.Authenticate(c, api_key=key)\n"
        "stauth.Authenticate(c, **options)\n"
        "authenticator.authentication_controller.login(u, p)\n"
    )
    assert [hit.split(":")[0] for hit in self_service_uses(source)] == ["1", "2", "3", "4", "5"]


def test_product_code_has_no_self_service():
    files = sorted(p for folder in PRODUCT_CODE for p in folder.rglob("*.py"))
    assert any(p.relative_to(ROOT).as_posix() == "console/ui/sign_in.py" for p in files)
    offenders = [f"{p.relative_to(ROOT)}:{hit}" for p in files for hit in self_service_uses(p.read_text())]
    assert not offenders, "\n".join(offenders)


def test_the_authenticator_has_no_cloud_service(console_env):
    from console.staff import accounts
    from console.ui.sign_in import _authenticator
    from settings import load_settings

    settings = load_settings()
    authenticator = _authenticator(settings, accounts.read_credentials(settings.users_file))
    model = authenticator.authentication_controller.authentication_model
    assert model.api_key is None and model.cloud_model is None


def test_sign_in_page_has_only_username_password_and_sign_in(app_as):
    at = app_as(None).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert [b.label for b in at.button] == ["Sign in"]
    for kind in (
        "checkbox",
        "selectbox",
        "radio",
        "page_link",
        "link_button",
        "text_area",
        "tabs",
        "expander",
    ):
        assert not at.get(kind), f"unexpected {kind} on the sign-in page"
    words = " ".join(str(node.proto) for node in at.main.children.values()).lower()
    for word in ("forgot", "register", "sign up", "reset"):
        assert word not in words


@pytest.mark.browser
def test_sign_in_page_in_a_browser(console_server, browser):
    page = browser.new_page()
    page.goto(console_server)
    page.get_by_label("Username").first.wait_for(timeout=WAIT_MS)
    main = page.locator("section.stMain, [data-testid='stMain']").first
    inputs = main.locator("input:visible")
    assert sorted(inputs.nth(i).get_attribute("type") for i in range(inputs.count())) == ["password", "text"]
    # Every button is the form's submit or the show-password toggle inside the password field.
    submit = main.locator("[data-testid='stFormSubmitButton'] button:visible")
    toggles = main.locator("[data-testid='stTextInput'] button:visible")
    assert submit.all_inner_texts() == ["Sign in"]
    assert main.locator("button:visible").count() == 1 + toggles.count()
    assert toggles.count() <= 1
    text = main.inner_text().lower()
    for word in ("forgot", "register", "sign up", "reset", "create account"):
        assert word not in text
    assert main.locator("a[href]").count() == 0  # no link to anywhere, not even an anchor
