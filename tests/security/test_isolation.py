"""Nothing crosses between users (issue 9).

st.cache_data / st.cache_resource and module globals are shared by every session
of a server process. The code rules below keep per-user state out of them, and
sessions of different roles, run side by side in one process (AppTest) and in two
real browsers on one server, never see each other's results, selections, links or
messages.
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT
from tests.console import warehouse_fixture as fx
from tests.security.conftest import WAIT_MS, browser_sign_in

PRODUCT_CODE = [ROOT / "console", ROOT / "pages"]
CACHE_DECORATORS = {"cache_data", "cache_resource", "cache", "lru_cache"}
# What a cached function must not read: it is not part of the cache key, and differs per user.
PER_SESSION = {"session_state", "current_staff", "require_page", "context", "query_params", "cookies"}
MUTATORS = {"append", "extend", "insert", "update", "setdefault", "add", "pop", "popitem", "clear", "remove"}
MUTABLE_FACTORIES = {"dict", "list", "set", "defaultdict", "OrderedDict", "Counter", "deque"}


def decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    return target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")


def shared_state_problems(source: str) -> list[str]:
    tree = ast.parse(source)
    problems = []
    mutable_globals = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            value = statement.value
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            mutable = isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp) or (
                isinstance(value, ast.Call) and decorator_name(value) in MUTABLE_FACTORIES
            )
            if mutable:
                mutable_globals |= {t.id for t in targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            problems.append(f"{node.lineno}: global {', '.join(node.names)}")
        if isinstance(node, ast.FunctionDef) and any(
            decorator_name(d) in CACHE_DECORATORS for d in node.decorator_list
        ):
            for inner in ast.walk(node):
                name = inner.attr if isinstance(inner, ast.Attribute) else getattr(inner, "id", None)
                if name in PER_SESSION:
                    problems.append(f"{inner.lineno}: cached {node.name} reads {name}")
        if isinstance(node, ast.FunctionDef):
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.Call)
                    and isinstance(inner.func, ast.Attribute)
                    and inner.func.attr in MUTATORS
                    and isinstance(inner.func.value, ast.Name)
                    and inner.func.value.id in mutable_globals
                ):
                    problems.append(
                        f"{inner.lineno}: {node.name} changes module global {inner.func.value.id}"
                    )
                if isinstance(inner, ast.Assign | ast.AugAssign):
                    targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                    for target in targets:
                        if (
                            isinstance(target, ast.Subscript)
                            and isinstance(target.value, ast.Name)
                            and target.value.id in mutable_globals
                        ):
                            problems.append(
                                f"{inner.lineno}: {node.name} changes module global {target.value.id}"
                            )
    return problems


def test_the_code_rules_catch_shared_state():
    source = """
import streamlit as st
SEEN = {}
LAST = []
@st.cache_data
def results(text):
    return search(text, st.session_state["staff"].role)
def remember(user):
    global CURRENT
    SEEN[user] = 1
    LAST.append(user)
"""
    caught = sorted(problem.split(": ", 1)[1] for problem in shared_state_problems(source))
    assert caught == [
        "cached results reads session_state",
        "global CURRENT",
        "remember changes module global LAST",
        "remember changes module global SEEN",
    ]


def test_product_code_keeps_per_user_state_out_of_shared_places():
    files = sorted(p for folder in PRODUCT_CODE for p in folder.rglob("*.py"))
    problems = [f"{p.relative_to(ROOT)}:{hit}" for p in files for hit in shared_state_problems(p.read_text())]
    assert not problems, "\n".join(problems)


def shown(at) -> str:
    kinds = ("text", "code", "caption", "markdown", "info", "warning", "error", "success", "title")
    return "\n".join(str(e.value) for kind in kinds for e in at.get(kind))


def test_two_roles_searching_side_by_side(warehouse, open_page):
    support = open_page("support", "customers")
    finance = open_page("finance", "customers")
    support.text_input(key="customer_search").input("José").run()
    finance.text_input(key="customer_search").input("Zoë").run()
    support.run()
    finance.run()
    assert support.dataframe[0].value["Customer id"].tolist() == [fx.JOSE]
    assert finance.dataframe[0].value["Customer id"].tolist() == [fx.ZOE]
    assert support.session_state["customer_search"] == "José"
    assert finance.session_state["customer_search"] == "Zoë"

    # A message in one session (nothing found) does not appear in the other.
    support.text_input(key="customer_search").input("cus_DoesNotExist9").run()
    finance.run()
    assert "No customer found" in shown(support)
    assert "No customer found" not in shown(finance)
    assert finance.dataframe[0].value["Customer id"].tolist() == [fx.ZOE]
    assert "Sam Tester" in shown(support) and "Sam Tester" not in shown(finance)
    assert "Fiona Tester" in shown(finance) and "Fiona Tester" not in shown(support)


def test_two_roles_on_one_customer_page_side_by_side(warehouse, open_page):
    support = open_page("support", "customer", id=fx.JOSE)
    admin = open_page("admin", "customer", id=fx.BIGRISK)
    support.run()
    admin.run()
    assert "José Álvarez" in shown(support) and "José Álvarez" not in shown(admin)
    assert support.session_state["staff"].role == "support"
    assert admin.session_state["staff"].role == "admin"


def portal_url_in(at) -> list[str]:
    return [c.value for c in at.code if c.value.startswith("http")]


def test_a_portal_link_is_shown_only_to_the_agent_who_made_it(stripe_settings, open_page):
    from tests.portal.conftest import dunning_customer

    customer_id = dunning_customer(stripe_settings)
    support = open_page("support", "customer", id=customer_id)
    admin = open_page("admin", "customer", id=customer_id)
    support.button(key=f"portal_link_{customer_id}_copy").click().run()
    admin.run()
    [url] = portal_url_in(support)
    assert not portal_url_in(admin)
    assert url not in shown(admin)
    assert not admin.success  # the "link made" message is the agent's own
    assert admin.button(key=f"portal_link_{customer_id}_copy")  # admin still has a fresh form

    admin.button(key=f"portal_link_{customer_id}_copy").click().run()
    [admin_url] = portal_url_in(admin)
    support.run()
    assert admin_url != url
    assert admin_url not in shown(support)


@pytest.mark.browser
def test_two_browsers_of_different_roles_on_one_server(warehouse, console_server, browser):
    support_context, finance_context = browser.new_context(), browser.new_context()
    support, finance = support_context.new_page(), finance_context.new_page()
    browser_sign_in(support, console_server, "sam")
    browser_sign_in(finance, console_server, "fiona")
    support.goto(f"{console_server}/customer?id={fx.JOSE}")
    finance.goto(f"{console_server}/customer?id=not-an-id-typed-by-fiona")
    support.get_by_text("José Álvarez").first.wait_for(timeout=WAIT_MS)
    finance.get_by_text("This is not a Stripe customer id").first.wait_for(timeout=WAIT_MS)
    support.get_by_role("link", name="Customers").first.click()  # a rerun of the support session
    support.get_by_label("Search").first.wait_for(timeout=WAIT_MS)
    finance.reload()
    finance.get_by_text("This is not a Stripe customer id").first.wait_for(timeout=WAIT_MS)
    support_text, finance_text = support.inner_text("body"), finance.inner_text("body")
    assert "Sam Tester (support)" in support_text and "Fiona" not in support_text
    assert "Fiona Tester (finance)" in finance_text and "Sam" not in finance_text
    assert "not-an-id-typed-by-fiona" not in support_text and "not a Stripe customer id" not in support_text
    assert "José" not in finance_text
    assert finance.get_by_role("link", name="Dunning queue").count() == 0  # finance's own navigation
    support_context.close()
    finance_context.close()
