"""Untrusted text stays text: no HTML, no live Markdown links or images (issue 9).

A customer (and a staff member) named `<img src=x onerror=alert(1)>[click](https://example.org)`
must show literally on every page: only elements that do not interpret their text
(st.text, st.code, st.dataframe) may carry it. The code never passes data to
unsafe_allow_html, st.html or components.html.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from console.staff import roles
from tests.conftest import ROOT
from tests.console import warehouse_fixture as fx
from tests.security.conftest import WAIT_MS, browser_sign_in, users_cli

HOSTILE = fx.HTML_NAME
PRODUCT_CODE = [ROOT / "console", ROOT / "pages", ROOT / "sync"]
# Elements that show their text as it is; every other element interprets Markdown or HTML.
LITERAL_ELEMENTS = {"text", "code", "dataframe", "arrow_data_frame", "json"}
HTML_SINKS = {"html", "iframe"}  # st.html, components.html, components.iframe


def python_files() -> list[Path]:
    return sorted(p for folder in PRODUCT_CODE for p in folder.rglob("*.py"))


def html_with_data(source: str) -> list[str]:
    """Calls that hand non-literal content to an HTML sink, as 'line: call'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        unsafe = any(
            k.arg == "unsafe_allow_html"
            and not (isinstance(k.value, ast.Constant) and k.value.value is False)
            for k in node.keywords
        )
        if not (unsafe or name in HTML_SINKS):
            continue
        content = [*node.args[:1], *(k.value for k in node.keywords if k.arg in ("body", "html", "src"))]
        if not all(isinstance(arg, ast.Constant) for arg in content):
            found.append(f"{node.lineno}: {ast.unparse(node)[:120]}")
    return found


def test_the_scanner_catches_data_in_html():
    caught = html_with_data(
        "st.markdown(f'<b>{name}</b>', unsafe_allow_html=True)\n"
        "st.html(customer.name)\n"
        "components.html(body)\n"
        "st.markdown('<style>x</style>', unsafe_allow_html=True)\n"
        "st.markdown(name)\n"
    )
    assert [line.split(":")[0] for line in caught] == ["1", "2", "3"]


def test_no_data_reaches_html_in_product_code():
    offenders = [
        f"{path.relative_to(ROOT)}:{hit}"
        for path in python_files()
        for hit in html_with_data(path.read_text())
    ]
    assert not offenders, "data passed to HTML:\n" + "\n".join(offenders)


def elements(block) -> list:
    found = []
    for child in block.children.values():
        if hasattr(child, "children") and child.type not in LITERAL_ELEMENTS:
            found += elements(child)
            if getattr(child, "proto", None) is not None:
                found.append(child)  # a block's own label (expander, tab, ...) is Markdown too
        else:
            found.append(child)
    return found


def interpreting_hostile(at) -> list[str]:
    """Elements outside LITERAL_ELEMENTS whose content holds the hostile text."""
    return [
        f"{node.type}: {str(node.proto)[:200]}"
        for root in (at.main, at.sidebar)
        for node in elements(root)
        if node.type not in LITERAL_ELEMENTS and HOSTILE in str(node.proto)
    ]


def literal_texts(at) -> list[str]:
    return [n.value for root in (at.main, at.sidebar) for n in elements(root) if n.type in ("text", "code")]


def test_the_element_check_catches_markdown():
    from streamlit.testing.v1 import AppTest

    script = f"""
import streamlit as st
name = {HOSTILE!r}
st.text(name)
st.caption(name)
with st.expander(name):
    st.code(name)
st.error("Refused: " + name)
"""
    at = AppTest.from_string(script).run()
    caught = [entry.split(":")[0] for entry in interpreting_hostile(at)]
    assert sorted(caught) == ["caption", "error", "expander"]
    assert literal_texts(at) == [HOSTILE, HOSTILE]


@pytest.fixture
def hostile_staff(console_env):
    added = users_cli(
        "add", "mallory", "--role", "admin", "--name", HOSTILE, "--password-stdin", stdin="mallory-pass-1\n"
    )
    assert added.returncode == 0, added.stderr
    return "mallory"


@pytest.mark.parametrize("role", ["support", "finance", "admin"])
def test_every_page_shows_the_hostile_customer_only_as_text(warehouse, open_page, role):
    for page in roles.pages_for(role):
        query = {"id": fx.HTML} if page.key == "customer" else {}
        at = open_page(role, page.key, **query)
        assert not at.exception, f"{page.key}: {at.exception}"
        assert not interpreting_hostile(at), f"{page.key} interprets untrusted text"
    at = open_page(role, "customer", id=fx.HTML)
    assert HOSTILE in literal_texts(at)  # shown, literally: the checks above had something to find


def test_search_results_hold_the_hostile_name_as_data(warehouse, open_page):
    at = open_page("support", "customers")
    at.text_input(key="customer_search").input("img src").run()
    assert not interpreting_hostile(at)
    assert HOSTILE in at.dataframe[0].value.to_string()
    at.text_input(key="customer_search").input(HOSTILE).run()
    assert not interpreting_hostile(at)


def test_staff_name_is_text_after_sign_in(hostile_staff, app_as):
    at = app_as(None).run()
    at.text_input[0].input("mallory")
    at.text_input[1].input("mallory-pass-1")
    at.button[0].click()
    at.run()
    assert at.session_state["staff"].name == HOSTILE
    assert not interpreting_hostile(at)
    assert any(HOSTILE in value for value in literal_texts(at))


def test_a_hostile_username_typed_at_sign_in_is_not_echoed(app_as):
    at = app_as(None).run()
    at.text_input[0].input(HOSTILE)
    at.text_input[1].input("whatever-password")
    at.button[0].click()
    at.run()
    assert [e.value for e in at.error] == ["Wrong username or password."]
    assert not interpreting_hostile(at)


@pytest.mark.browser
def test_browser_shows_hostile_names_literally(warehouse, hostile_staff, console_server, browser):
    page = browser.new_page()
    alerts = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    browser_sign_in(page, console_server, "mallory", "mallory-pass-1")
    page.get_by_text(HOSTILE).first.wait_for(timeout=WAIT_MS)  # the staff name in the sidebar
    page.goto(f"{console_server}/customer?id={fx.HTML}")
    page.get_by_text("Payment attempts").first.wait_for(timeout=WAIT_MS)
    assert page.get_by_text(HOSTILE, exact=True).count() >= 1
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator('a[href^="https://example.org"]').count() == 0
    assert not alerts
