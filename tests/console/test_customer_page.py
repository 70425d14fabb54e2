"""The Customer page: profile, subscriptions, invoices, attempts; bad ids; roles and the portal panel."""

from __future__ import annotations

import pytest

from tests.console import warehouse_fixture as fx


def texts(at) -> list[str]:
    return [t.value for t in at.main.text]


def link_buttons(at) -> dict[str, str]:
    return {b.proto.label: b.proto.url for b in at.get("link_button")}


def test_profile_subscriptions_invoices_and_attempts(warehouse, open_page):
    at = open_page("support", "customer", id=fx.JOSE)
    assert not at.exception
    assert "José Álvarez" in texts(at) and "jose.alvarez@example.com" in texts(at)
    assert link_buttons(at) == {
        "Open in the Stripe dashboard": f"https://dashboard.stripe.com/customers/{fx.JOSE}"
    }
    subscriptions, invoices, attempts = (d.value for d in at.dataframe[:3])
    assert subscriptions["MRR"].tolist() == ["$20.00"]
    assert subscriptions["Status"].tolist() == ["past_due"]
    assert invoices["Number"].tolist() == [fx.JOSE_OPEN_NUMBER, "ABCD1234-0001"]
    assert invoices["Remaining"].tolist() == ["$50.00", "$0.00"]
    assert invoices["Attempts"].tolist() == [2, 1]
    assert invoices["Next retry (UTC)"].iloc[0] != "" and invoices["Next retry (UTC)"].iloc[1] == ""
    assert invoices["Hosted invoice"].iloc[0].startswith("https://invoice.stripe.com/")
    assert attempts["Decline code"].tolist() == ["do_not_honor", "insufficient_funds", ""]
    assert attempts["Status"].tolist() == ["failed", "failed", "succeeded"]
    assert any("Delinquent" in e.value for e in at.error)


def test_test_mode_customer_links_to_the_test_dashboard_and_yearly_mrr(warehouse, open_page):
    at = open_page("support", "customer", id=fx.ZOE)
    assert link_buttons(at) == {
        "Open in the Stripe dashboard": f"https://dashboard.stripe.com/test/customers/{fx.ZOE}"
    }
    assert at.dataframe[0].value["MRR"].tolist() == ["€9.00"]  # €108.00 a year
    assert at.dataframe[0].value["Cancel at period end"].tolist() == [True]


def test_zero_decimal_currency(warehouse, open_page):
    at = open_page("support", "customer", id=fx.TANAKA)
    assert at.dataframe[0].value["MRR"].tolist() == ["¥1,200"]
    assert at.dataframe[1].value["Amount due"].tolist() == ["¥1,200"]


def test_deleted_customer_page_shows_history_and_no_link_form(warehouse, open_page):
    at = open_page("support", "customer", id=fx.DELETED)
    assert not at.exception
    assert any("deleted in Stripe" in w.value for w in at.warning)
    assert at.dataframe[0].value["Status"].tolist() == ["canceled"]
    assert at.dataframe[1].value["Number"].tolist() == ["GONE0001-0001"]
    assert not [b for b in at.button if b.label in ("Copy link", "Email to customer")]


def test_hostile_names_are_shown_as_text(warehouse, open_page):
    for customer_id, name in ((fx.HTML, fx.HTML_NAME), (fx.SQL, fx.SQL_NAME)):
        at = open_page("support", "customer", id=customer_id)
        assert not at.exception
        assert name in texts(at)
        assert not any(name in m.value for m in at.markdown)


@pytest.mark.parametrize("bad", ["cus_x'; DROP TABLE customers; --", "<script>alert(1)</script>", "in_Jose1"])
def test_malformed_id_is_refused_with_a_message(warehouse, open_page, bad):
    at = open_page("support", "customer", id=bad)
    assert not at.exception and not at.dataframe
    assert "not a Stripe customer id" in at.error[0].value
    assert at.code[0].value == bad


def test_unknown_id_says_so(warehouse, open_page):
    at = open_page("support", "customer", id="cus_Nobody42")
    assert not at.exception and not at.dataframe
    assert "No customer with this id" in at.warning[0].value


def test_no_id_points_to_the_search(warehouse, open_page):
    at = open_page("support", "customer")
    assert not at.exception
    assert "Choose a customer" in at.info[0].value


def test_finance_reads_without_making_links(warehouse, open_page):
    at = open_page("finance", "customer", id=fx.JOSE)
    assert not at.exception
    assert len(at.dataframe) >= 3
    assert not [b for b in at.button if b.label in ("Copy link", "Email to customer")]
    assert any("cannot create portal links" in c.value for c in at.main.caption)


@pytest.mark.parametrize("role", ["support", "admin"])
def test_link_makers_get_the_portal_panel(warehouse, open_page, role):
    at = open_page(role, "customer", id=fx.JOSE)
    assert not at.exception
    assert {"Copy link", "Email to customer"} <= {b.label for b in at.button}
