"""The rules that refuse a portal link before Stripe is asked: role, hourly limit, recipient, target."""

from __future__ import annotations

import duckdb
import pytest

from console import ops
from console.display.tables import csv_text
from console.links.context import LinkError, link_context
from console.links.requests import LinkRequest, create_link, request_key
from console.ops import audit, link_requests
from console.ops.store import IntegrityError
from console.staff.roles import StaffUser

SAM = StaffUser("sam", "Sam Tester", "support")
FIONA = StaffUser("fiona", "Fiona Tester", "finance")
ADA = StaffUser("ada", "Ada Tester", "admin")


def attempt(settings, staff, request, nonce="n1"):
    return create_link(settings, staff, request, request_key(staff, request, nonce))


def audit_rows(settings):
    return audit.browse(ops.store_for(settings.ops_db))


def reserved_agents(settings) -> list[str]:
    with ops.store_for(settings.ops_db).connect() as conn:
        return [row[0] for row in conn.execute("SELECT agent FROM link_requests ORDER BY at, agent")]


@pytest.mark.usefixtures("ops_backend")
def test_finance_is_refused_and_the_refusal_is_audited(settings_with, warehouse):
    settings = settings_with(STRIPE_API_KEY="sk_test_unused")
    with pytest.raises(LinkError, match=r"Your role \(finance\) cannot create portal links"):
        attempt(settings, FIONA, LinkRequest("cus_plain", "portal", "copy"))
    rows = audit_rows(settings)
    assert rows[["agent", "role", "outcome"]].values.tolist() == [["fiona", "finance", "refused"]]
    assert reserved_agents(settings) == []


@pytest.mark.usefixtures("ops_backend")
def test_hourly_limit_per_agent(settings_with, warehouse):
    settings = settings_with(PORTAL_LINKS_PER_HOUR="2")
    store = ops.store_for(settings.ops_db)
    for n in range(2):  # two links sam made: their reserved slots, with their Stripe sessions
        assert not link_requests.reserve(store, f"made-{n}", "sam", "cus_plain", per_hour=10).refused
        link_requests.record_session(store, f"made-{n}", f"bps_{n}")
    # A request whose Stripe call failed gave its slot back: it does not count.
    assert not link_requests.reserve(store, "failed", "sam", "cus_plain", per_hour=10).refused
    link_requests.release(store, "failed")
    assert reserved_agents(settings) == ["sam", "sam"]
    with pytest.raises(LinkError, match=r"2 portal links in the last hour.*PORTAL_LINKS_PER_HOUR=2"):
        attempt(settings, SAM, LinkRequest("cus_plain", "portal", "copy"))
    # Another agent is not limited by sam's links: this one gets as far as Stripe (no key here),
    # and the failed call gives its slot back.
    with pytest.raises(LinkError, match="No Stripe key"):
        attempt(settings, ADA, LinkRequest("cus_plain", "portal", "copy"))
    assert reserved_agents(settings) == ["sam", "sam"]
    outcomes = audit_rows(settings)[["agent", "outcome"]].values.tolist()
    assert outcomes[:2] == [["ada", "failed"], ["sam", "refused"]]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (LinkRequest("cus_deleted", "portal", "copy"), "deleted in Stripe"),
        (LinkRequest("cus_noemail", "portal", "email"), "not a usable address"),
        (LinkRequest("cus_unknown", "portal", "copy"), "No customer 'cus_unknown'"),
        (LinkRequest("cus_plain", "subscription_cancel", "copy"), "Choose one of this customer's"),
        (LinkRequest("cus_plain", "subscription_cancel", "copy", "sub_dunning"), "Choose one of this"),
        (LinkRequest("cus_plain", "subscription_cancel", "copy", "sub_old"), "cannot be canceled.*canceled"),
        (LinkRequest("cus_plain", "subscription_update", "copy", "sub_old"), "cannot be changed"),
        (LinkRequest("cus_plain", "subscription_update_confirm", "copy", "sub_plain", "price_team_eur"),
         "not a plan this subscription can move to"),
        (LinkRequest("cus_plain", "subscription_update_confirm", "copy", "sub_plain", "price_pro_m"),
         "not a plan this subscription can move to"),
        (LinkRequest("cus_plain", "subscription_pause", "copy", "sub_plain"), "Unknown portal flow"),
        (LinkRequest("cus_plain", "portal", "sms"), "Unknown portal flow or delivery"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_before_stripe(settings_with, warehouse, request_, message):
    settings = settings_with(STRIPE_API_KEY="sk_test_unused", STRIPE_API_BASE="http://127.0.0.1:9")
    with pytest.raises(LinkError, match=message):
        attempt(settings, SAM, request_)
    assert audit_rows(settings)["outcome"].tolist() == ["refused"]


def test_no_email_customer_can_still_get_a_copied_link_refusal_only_for_email(settings_with, warehouse):
    context = link_context(settings_with().billing_db, "cus_noemail")
    assert "not a usable address" in context.recipient_problem()
    assert link_context(settings_with().billing_db, "cus_plain").recipient_problem() is None


def test_context_preselects_card_update_for_a_customer_in_dunning(settings_with, warehouse):
    settings = settings_with()
    dunning = link_context(settings.billing_db, "cus_dunning")
    assert dunning.default_flow == "payment_method_update"
    assert dunning.dunning_invoice.url == "https://invoice.example/pay/in_dunning"
    assert dunning.dunning_invoice.amount == "$20.00"
    assert dunning.locale == "fr"
    plain = link_context(settings.billing_db, "cus_plain")
    assert plain.default_flow == "portal" and plain.dunning_invoice is None and plain.locale is None
    assert [s.id for s in plain.subscriptions_for("subscription_cancel")] == ["sub_plain"]
    sub = plain.subscriptions_for("subscription_update_confirm")[0]
    assert sub.item_id == "si_plain"
    assert [p.id for p in plain.prices_for(sub)] == ["price_team_m"]


def test_a_failed_invoice_sent_for_manual_payment_is_not_in_dunning(settings_with, warehouse):
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("UPDATE invoices SET collection_method = 'send_invoice' WHERE id = 'in_dunning'")
    context = link_context(settings_with().billing_db, "cus_dunning")
    assert context.dunning_invoice is None and context.default_flow == "portal"


def test_request_key_is_stable_for_a_rerun_and_differs_otherwise():
    request = LinkRequest("cus_1", "portal", "email")
    assert request_key(SAM, request, "n") == request_key(SAM, request, "n")
    assert request_key(SAM, request, "n") != request_key(SAM, request, "m")
    assert request_key(SAM, request, "n") != request_key(ADA, request, "n")
    assert request_key(SAM, request, "n") != request_key(SAM, LinkRequest("cus_1", "portal", "copy"), "n")


@pytest.mark.usefixtures("ops_backend")
def test_audit_log_is_append_only(settings_with):
    store = ops.store_for(settings_with().ops_db)
    audit.record(store, audit.AuditEntry("sam", "support", "cus_1", "portal", "copy", "created"))
    with store.connect() as conn:
        with pytest.raises(IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_log SET outcome = 'refused'")
        with pytest.raises(IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log")
    assert audit.browse(store)["outcome"].tolist() == ["created"]


def test_audit_export_neutralises_spreadsheet_formulas(settings_with):
    store = ops.store_for(settings_with().ops_db)
    audit.record(
        store, audit.AuditEntry("sam", "support", "=HYPERLINK(1)", "portal", "copy", "refused", error="@x")
    )
    text = csv_text(audit.browse(store))
    assert "'=HYPERLINK(1)" in text and "'@x" in text
