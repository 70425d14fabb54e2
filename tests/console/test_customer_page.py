"""The Customer page: profile, subscriptions, invoices, attempts; bad ids; roles and the portal panel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import notices
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
    subscriptions, _, invoices, attempts = (d.value for d in at.dataframe[:4])
    assert subscriptions["MRR"].tolist() == ["$20.00"]
    assert subscriptions["Status"].tolist() == ["past_due"]
    assert invoices["Number"].tolist() == [fx.JOSE_OPEN_NUMBER, "ABCD1234-0001"]
    assert invoices["Remaining"].tolist() == ["$50.00", "$0.00"]
    assert invoices["Attempts"].tolist() == [2, 1]
    assert invoices["Next retry"].iloc[0].endswith(" UTC") and invoices["Next retry"].iloc[1] == "—"
    assert invoices["Hosted invoice"].iloc[0].startswith("https://invoice.stripe.com/")
    assert attempts["Decline code"].tolist() == ["do_not_honor", "insufficient_funds", "—"]
    assert attempts["Status"].tolist() == ["failed", "failed", "succeeded"]
    assert any("Delinquent" in e.value for e in at.error)


def test_test_mode_customer_links_to_the_test_dashboard_and_yearly_mrr(warehouse, open_page):
    at = open_page("support", "customer", id=fx.ZOE)
    assert link_buttons(at) == {
        "Open in the Stripe dashboard": f"https://dashboard.stripe.com/test/customers/{fx.ZOE}"
    }
    assert at.dataframe[0].value["MRR"].tolist() == ["€9.00"]  # €108.00 a year
    assert at.dataframe[0].value["Cancels at period end"].tolist() == [True]


def test_zero_decimal_currency(warehouse, open_page):
    at = open_page("support", "customer", id=fx.TANAKA)
    assert at.dataframe[0].value["MRR"].tolist() == ["¥1,200"]
    assert at.dataframe[2].value["Amount due"].tolist() == ["¥1,200"]


def test_deleted_customer_page_shows_history_and_no_link_form(warehouse, open_page):
    at = open_page("support", "customer", id=fx.DELETED)
    assert not at.exception
    assert any("deleted in Stripe" in w.value for w in at.warning)
    assert at.dataframe[0].value["Status"].tolist() == ["canceled"]
    assert at.dataframe[2].value["Number"].tolist() == ["GONE0001-0001"]
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


# --- payment method panel, dashboard links, modes ---------------------------------------


def test_payment_panel_flags_expired_and_expiring_before_renewal(warehouse, open_page):
    at = open_page("support", "customer", id=fx.JOSE)
    panel = at.dataframe[1].value.set_index("Charged for")
    month, year = fx.card_expiring_before(fx.utc_now() + timedelta(days=fx.JOSE_RENEWAL_DAYS), fx.utc_now())
    subscription = panel.loc[f"Subscription {fx.JOSE_SUBSCRIPTION}"]
    # The subscription's own default overrides the customer's (expired) one.
    assert subscription["Payment method"] == f"Visa •••• 4242, expires {month:02d}/{year % 100:02d}"
    assert (subscription["Set on"], subscription["Check"]) == (
        "the subscription",
        "expires before the renewal",
    )
    customer_default = panel.loc["Customer default"]
    assert customer_default["Payment method"] == "Mastercard •••• 4444, expires 01/20"
    assert customer_default["Check"] == "expired"
    assert any("expires before the renewal" in n for n in notices(at, "warning"))
    assert "Visa •••• 4242" in at.dataframe[3].value["Card"].iloc[0]  # the card the attempt used


def test_payment_panel_wallet_and_sepa(warehouse, open_page):
    big = open_page("support", "customer", id=fx.BIGRISK).dataframe[1].value
    assert big["Payment method"].tolist()[0].startswith("Visa •••• 1881 (Apple Pay), expires 03/")
    assert big["Check"].tolist() == ["ok", "ok"]
    zoe = open_page("support", "customer", id=fx.ZOE).dataframe[1].value
    assert zoe["Payment method"].tolist() == ["SEPA debit", "SEPA debit"]


def test_invoice_and_charge_links_go_to_the_dashboard_of_the_customers_mode(warehouse, open_page):
    live = open_page("support", "customer", id=fx.JOSE)
    assert live.dataframe[2].value["Stripe dashboard"].iloc[0] == (
        f"https://dashboard.stripe.com/invoices/{fx.JOSE_OPEN_INVOICE}"
    )
    assert (
        live.dataframe[3].value["Stripe dashboard"].iloc[0]
        == "https://dashboard.stripe.com/payments/ch_JoseFail2"
    )
    test = open_page("support", "customer", id=fx.ZOE)
    assert test.dataframe[2].value["Stripe dashboard"].iloc[0] == (
        "https://dashboard.stripe.com/test/invoices/in_ZoeOpen1"
    )


def test_deleted_customer_without_a_mode_takes_it_from_their_invoices(warehouse, open_page):
    at = open_page("support", "customer", id=fx.DELETED)
    assert link_buttons(at) == {
        "Open in the Stripe dashboard": f"https://dashboard.stripe.com/test/customers/{fx.DELETED}"
    }
    assert "test (from the customer's invoices)" in texts(at)
    assert at.dataframe[2].value["Stripe dashboard"].iloc[0].startswith("https://dashboard.stripe.com/test/")


def test_mode_falls_back_to_the_other_customers_then_to_the_key(
    warehouse, console_env, monkeypatch, open_page
):
    fx.publish_change(
        warehouse,
        ("UPDATE invoices SET hosted_invoice_url = NULL WHERE customer_id = ?", [fx.DELETED]),
        "UPDATE customers SET livemode = false WHERE livemode",  # every known mode: test
    )
    at = open_page("support", "customer", id=fx.DELETED)
    assert "test (from the account's other customers)" in texts(at)
    fx.publish_change(warehouse, "UPDATE customers SET livemode = NULL")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_" + "x" * 24)
    at = open_page("support", "customer", id=fx.DELETED)
    assert "test (from the console's Stripe key)" in texts(at)
    assert link_buttons(at)["Open in the Stripe dashboard"].startswith("https://dashboard.stripe.com/test/")


def test_mrr_only_for_subscriptions_that_count_toward_it(warehouse, open_page):
    trial = open_page("support", "customer", id=fx.HTML).dataframe[0].value
    assert trial["MRR"].tolist() == ["— (trial)"]
    assert trial["Plan"].tolist() == ["Basic plan"]
    ended = open_page("support", "customer", id=fx.DELETED).dataframe[0].value
    assert ended["MRR"].tolist() == ["— (ended)"]
