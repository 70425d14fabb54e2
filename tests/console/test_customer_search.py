"""The Customers page: one box finds customers by every kind of key; hostile text stays text."""

from __future__ import annotations

import duckdb
import pytest

from tests.console import warehouse_fixture as fx


def search(open_page, text: str, role: str = "support"):
    at = open_page(role, "customers")
    at.text_input(key="customer_search").input(text)
    return at.run()


def found_ids(at) -> list[str]:
    assert not at.exception
    if not at.dataframe:
        return []
    return list(at.dataframe[0].value["Customer id"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jose.alv", [fx.JOSE]),  # email part
        ("OPS@bigrisk", [fx.BIGRISK]),  # email, other case
        ("Álvarez", [fx.JOSE]),  # name part with accent
        ("alvarez", [fx.JOSE]),  # ... and without
        ("JOSE", [fx.JOSE]),
        ("zoe m", [fx.ZOE]),  # Zoë Müller
        ("muller", [fx.ZOE]),
        ("Müller Zoë", [fx.ZOE]),  # words in any order
        ("hiroshi TANAKA", [fx.TANAKA]),
        ("  tanaka@example.jp  ", [fx.TANAKA]),
    ],
)
def test_search_by_every_kind_of_key(warehouse, open_page, text, expected):
    assert found_ids(search(open_page, text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (fx.TANAKA, fx.TANAKA),  # cus_ id
        (fx.TANAKA.upper(), fx.TANAKA),  # any letter case
        (fx.JOSE_SUBSCRIPTION, fx.JOSE),  # sub_ id
        (fx.JOSE_SUBSCRIPTION.upper(), fx.JOSE),
        (fx.BIGRISK_OPEN_INVOICE, fx.BIGRISK),  # in_ id
        (fx.BIGRISK_OPEN_INVOICE.lower(), fx.BIGRISK),
        (fx.JOSE_OPEN_NUMBER, fx.JOSE),  # invoice number
        (fx.JOSE_OPEN_NUMBER.lower(), fx.JOSE),
    ],
)
def test_an_exact_key_opens_its_customer_at_once(warehouse, open_page, text, expected):
    at = search(open_page, text)
    assert not at.exception
    assert at.query_params == {"id": expected}
    assert at.main.code[0].value == expected  # the customer page's id field


@pytest.mark.parametrize("role", ["support", "finance", "admin"])
def test_every_role_that_opens_the_page_can_search(warehouse, open_page, role):
    at = search(open_page, "example.com", role)
    assert set(found_ids(at)) == {fx.JOSE, fx.DELETED, fx.HTML, fx.SQL, fx.QUIET}
    assert any(c.value.startswith("5 customer(s)") for c in at.main.caption)


def test_empty_box_lists_all_customers_newest_first(warehouse, open_page):
    at = open_page("support", "customers")
    ids = found_ids(at)
    assert ids[0] == fx.QUIET and ids[-1] == fx.DELETED and len(ids) == 8


@pytest.mark.parametrize(
    ("text", "kind"),
    [("cus_Nobody42", "customer id"), ("sub_Nobody", "subscription id"), ("in_Nobody", "invoice id"),
     ("ZZZZ9999-0001", "invoice number"), ("no such person", "email or name")],
)  # fmt: skip
def test_unknown_key_says_what_was_searched(warehouse, open_page, text, kind):
    at = search(open_page, text)
    assert not at.exception and not at.dataframe
    assert at.info[0].value == f"No customer found for this {kind}:"
    assert at.code[0].value.lower() == text.lower()


def test_sql_fragment_in_the_box_is_only_text(warehouse, open_page, console_env):
    at = search(open_page, fx.SQL_NAME)
    assert found_ids(at) == [fx.SQL]
    assert at.dataframe[0].value["Name"].tolist() == [fx.SQL_NAME]
    at = search(open_page, "x' OR 1=1; --")
    assert found_ids(at) == []
    with duckdb.connect(console_env["BILLING_DB"], read_only=True) as con:
        assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 8


def test_html_fragment_in_the_box_and_name_is_shown_literally(warehouse, open_page):
    at = search(open_page, "<img src=x")
    assert found_ids(at) == [fx.HTML]
    assert at.dataframe[0].value["Name"].tolist() == [fx.HTML_NAME]
    assert not any("<img" in m.value for m in at.markdown)
    at = search(open_page, "[click](https://example.org)")
    assert found_ids(at) == [fx.HTML]


def test_html_in_an_unmatched_search_is_not_rendered(warehouse, open_page):
    at = search(open_page, "<b>nobody</b>")
    assert at.code[0].value == "<b>nobody</b>"
    assert not any("<b>" in m.value for m in at.markdown)


def test_filters_narrow_the_list(warehouse, open_page):
    at = open_page("support", "customers")
    at.checkbox[0].check().run()  # in dunning
    assert set(found_ids(at)) == {fx.JOSE, fx.ZOE, fx.TANAKA, fx.BIGRISK}
    at.selectbox[1].select("jpy").run()
    assert found_ids(at) == [fx.TANAKA]
    at = open_page("support", "customers")
    at.selectbox[0].select("trialing").run()
    assert found_ids(at) == [fx.HTML]


def test_filters_do_not_hide_an_exact_id(warehouse, open_page):
    at = open_page("support", "customers")
    at.selectbox[1].select("jpy").run()
    at.text_input(key="customer_search").input(fx.JOSE).run()
    assert at.query_params == {"id": fx.JOSE}


def test_deleted_customer_is_found_and_marked(warehouse, open_page):
    at = search(open_page, "gone@")
    rows = at.dataframe[0].value
    assert rows["Customer id"].tolist() == [fx.DELETED] and rows["Deleted"].tolist() == [True]


def test_choosing_a_row_opens_the_customer(warehouse, open_page):
    at = search(open_page, "tanaka")
    at.session_state["open_customer"] = fx.TANAKA  # what the row-selection callback records
    at.run()
    assert not at.exception
    assert at.query_params == {"id": fx.TANAKA}
    assert any(t.value == "Tanaka Hiroshi" for t in at.text)


def test_search_and_filters_come_from_the_address_and_an_address_key_does_not_jump(warehouse, open_page):
    at = open_page("support", "customers", q="example", currency="usd", dunning="true")
    assert set(found_ids(at)) == {fx.JOSE, fx.BIGRISK}
    assert at.text_input(key="customer_search").value == "example"
    assert at.query_params == {"q": "example", "currency": "usd", "dunning": "true"}
    # Reload or Back with an id in the address lists it: only a key the agent types jumps,
    # otherwise Back from the customer would bounce straight back to them.
    at = open_page("support", "customers", q=fx.TANAKA)
    assert found_ids(at) == [fx.TANAKA]
