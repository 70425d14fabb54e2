"""Portal sessions through the real `stripe` package against the sandbox: each flow's request,
Stripe errors as messages, double clicks, the hourly limit, and no URL anywhere it should not be."""

from __future__ import annotations

import logging
import secrets

import pytest

from console import ops
from console.links import portal
from console.links.context import LinkError, link_context
from console.links.requests import LinkRequest, create_link, request_key
from console.ops import audit, outbox
from console.staff.roles import StaffUser
from tests.conftest import free_port
from tests.portal.conftest import PORTAL_KEY, READ_KEY, dunning_customer, portal_session, warehouse_rows

SAM = StaffUser("sam", "Sam Tester", "support")


def make(settings, request, nonce=None, staff=SAM):
    """One form submission; the sandbox outlives a test, so nonces are unique unless a test repeats one."""
    return create_link(settings, staff, request, request_key(staff, request, nonce or secrets.token_hex(8)))


def updatable(settings):
    """A customer with an active single-item subscription and another price in its currency."""
    for (customer_id,) in warehouse_rows(
        settings,
        "SELECT DISTINCT s.customer_id FROM subscriptions s JOIN customers c ON c.id = s.customer_id"
        " WHERE s.status = 'active' AND NOT c.deleted ORDER BY 1",
    ):
        context = link_context(settings.billing_db, customer_id)
        for sub in context.subscriptions_for("subscription_update_confirm"):
            if sub.cancelable and context.prices_for(sub):
                return context, sub, context.prices_for(sub)[0]
    raise AssertionError("the test account has no updatable subscription")


def test_general_portal_link_carries_return_url_locale_and_after_expiration(stripe_settings, portal_sandbox):
    customer_id = warehouse_rows(
        stripe_settings,
        "SELECT id FROM customers WHERE preferred_locales = ['en-GB'] AND NOT deleted LIMIT 1",
    )[0][0]
    result = make(stripe_settings, LinkRequest(customer_id, "portal", "copy"))
    assert result.outcome == "created" and result.url.startswith(portal_sandbox.base_url + "/p/session/")
    session = portal_session(portal_sandbox, result.session_id)
    assert session["customer"] == customer_id
    assert session["return_url"] == stripe_settings.portal_return_url
    assert session["locale"] == "en-GB"
    assert session["after_expiration"]["type"] == "customer_login"
    assert session["flow"] is None
    assert session["url"] == result.url


@pytest.mark.parametrize("flow", ["payment_method_update", "customer_update"])
def test_flows_without_a_target(stripe_settings, portal_sandbox, flow):
    customer_id = dunning_customer(stripe_settings)
    result = make(stripe_settings, LinkRequest(customer_id, flow, "copy"))
    session = portal_session(portal_sandbox, result.session_id)
    assert session["flow"]["type"] == flow and session["customer"] == customer_id


@pytest.mark.parametrize("flow", ["subscription_cancel", "subscription_update"])
def test_subscription_flows_name_the_chosen_subscription(stripe_settings, portal_sandbox, flow):
    context, sub, _ = updatable(stripe_settings)
    result = make(stripe_settings, LinkRequest(context.customer_id, flow, "copy", sub.id))
    session = portal_session(portal_sandbox, result.session_id)
    assert session["flow"]["type"] == flow
    assert session["flow"][flow]["subscription"] == sub.id


def test_plan_change_to_a_chosen_price_names_the_item_and_price(stripe_settings, portal_sandbox):
    context, sub, price = updatable(stripe_settings)
    request = LinkRequest(context.customer_id, "subscription_update_confirm", "copy", sub.id, price.id)
    session = portal_session(portal_sandbox, make(stripe_settings, request).session_id)
    confirm = session["flow"]["subscription_update_confirm"]
    assert confirm["subscription"] == sub.id
    assert confirm["items"] == [{"id": sub.item_id, "price": price.id, "quantity": None}]


def test_retention_coupon_goes_with_the_cancel_flow(stripe_settings, settings_with):
    settings = settings_with(PORTAL_RETENTION_COUPON="STAY20")
    context, sub, _ = updatable(settings)
    params = portal.session_params(
        settings, context.customer_id, "subscription_cancel", subscription_id=sub.id
    )
    assert params["flow_data"]["subscription_cancel"]["retention"] == {
        "type": "coupon_offer",
        "coupon_offer": {"coupon": "STAY20"},
    }
    # The sandbox account has no such coupon: Stripe's refusal names it, and says which setting to fix.
    with pytest.raises(LinkError, match=r"retention coupon.*PORTAL_RETENTION_COUPON.*STAY20"):
        make(settings, LinkRequest(context.customer_id, "subscription_cancel", "copy", sub.id))


def test_configuration_setting_and_after_expiration_off(stripe_settings, portal_sandbox, settings_with):
    configuration = portal_sandbox.server.portal.configuration_id
    settings = settings_with(PORTAL_CONFIGURATION=configuration, PORTAL_AFTER_EXPIRATION="false")
    session = portal_session(
        portal_sandbox, make(settings, LinkRequest(dunning_customer(settings), "portal", "copy")).session_id
    )
    assert session["configuration"] == configuration
    assert session["after_expiration"] is None
    wrong = settings_with(PORTAL_CONFIGURATION="bpc_unknown")
    with pytest.raises(LinkError, match="PORTAL_CONFIGURATION"):
        make(wrong, LinkRequest(dunning_customer(settings), "portal", "copy"))


# --- Stripe errors --------------------------------------------------------------------------


def test_portal_not_configured_says_where_to_set_it_up(stripe_settings, portal_sandbox, smtp, settings_with):
    settings = settings_with(**smtp.env())
    portal_sandbox.set_portal_configured(False)
    customer_id = dunning_customer(settings)
    with pytest.raises(LinkError) as refused:
        make(settings, LinkRequest(customer_id, "payment_method_update", "email"))
    message = str(refused.value)
    assert "not set up for this account in test mode" in message
    assert "Settings > Billing > Customer portal" in message and "Test mode" in message
    assert "http" not in message
    assert smtp.received == []
    store = ops.store_for(settings.ops_db)
    assert outbox.messages(store).empty
    row = audit.browse(store).iloc[0]
    assert row["outcome"] == "failed" and row["stripe_session_id"] is None and "not set up" in row["error"]


def test_live_mode_key_is_told_to_look_in_live_mode():
    error = portal.stripe.InvalidRequestError(
        "You can’t create a portal session in live mode until you save your customer portal settings in live "
        "mode at https://dashboard.stripe.com/settings/billing/portal.", None
    )  # fmt: skip
    message = portal.explain(error, {"customer": "cus_1"}, "live")
    assert "in live mode" in message and "Test mode" not in message and "https://" not in message


def stripe_error(settings, params) -> str:
    with pytest.raises(portal.PortalError) as failed:
        portal.create_session(settings, params, idempotency_key=f"test-{free_port()}")
    return str(failed.value)


def test_stripe_errors_become_clear_messages(stripe_settings, settings_with, portal_sandbox):
    deleted = warehouse_rows(stripe_settings, "SELECT id FROM customers WHERE deleted LIMIT 1")[0][0]
    assert "no such customer" in stripe_error(stripe_settings, {"customer": deleted}).lower()
    assert "deleted" in stripe_error(stripe_settings, {"customer": deleted})

    canceled, owner = warehouse_rows(
        stripe_settings, "SELECT id, customer_id FROM subscriptions WHERE status = 'canceled' LIMIT 1"
    )[0]
    flow = {"type": "subscription_cancel", "subscription_cancel": {"subscription": canceled}}
    assert "cannot be canceled" in stripe_error(stripe_settings, {"customer": owner, "flow_data": flow})
    flow = {"type": "subscription_update", "subscription_update": {"subscription": canceled}}
    assert "cannot be changed" in stripe_error(stripe_settings, {"customer": owner, "flow_data": flow})

    context, sub, _ = updatable(stripe_settings)
    flow = {
        "type": "subscription_update_confirm",
        "subscription_update_confirm": {
            "subscription": sub.id,
            "items": [{"id": sub.item_id, "price": "price_nope"}],
        },
    }
    assert "does not know that price" in stripe_error(stripe_settings, {"customer": context.customer_id,
                                                                         "flow_data": flow})  # fmt: skip

    down = settings_with(STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}")
    assert "Could not reach Stripe" in stripe_error(down, {"customer": context.customer_id})
    wrong_key = settings_with(
        STRIPE_API_BASE=portal_sandbox.base_url, STRIPE_PORTAL_API_KEY="sk_test_not_a_key"
    )
    message = stripe_error(wrong_key, {"customer": context.customer_id})
    assert "refused the console's API key" in message and "sk_test_not_a_key" not in message
    read_only = settings_with(STRIPE_PORTAL_API_KEY=READ_KEY)
    assert "Customer portal: write" in stripe_error(read_only, {"customer": context.customer_id})


def test_the_console_key_reads_the_customer_then_writes_one_session(stripe_settings, portal_sandbox):
    """Every console request in these tests used the console's restricted key: the live re-check of
    the one customer (four reads), then the session."""
    assert stripe_settings.portal_api_key == PORTAL_KEY
    customer_id = dunning_customer(stripe_settings)
    portal_sandbox.requests.clear()
    make(stripe_settings, LinkRequest(customer_id, "payment_method_update", "copy"))
    assert [(r.method, r.path) for r in portal_sandbox.requests] == [
        ("GET", f"/v1/customers/{customer_id}"),
        ("GET", "/v1/subscriptions"),
        ("GET", "/v1/invoices"),
        ("GET", "/v1/invoices"),
        ("POST", "/v1/billing_portal/sessions"),
    ]


# --- one request, one session, one email ------------------------------------------------------


def test_double_click_makes_one_session_and_one_email(stripe_settings, settings_with, smtp, portal_sandbox):
    settings = settings_with(**smtp.env())
    customer_id = dunning_customer(settings)
    request = LinkRequest(customer_id, "payment_method_update", "email")
    before = len(portal_sandbox.server.portal.sessions)
    nonce = secrets.token_hex(8)
    first = make(settings, request, nonce)
    second = make(settings, request, nonce)  # the same submission again (double click, rerun)
    assert first.outcome == second.outcome == "emailed"
    assert first.session_id == second.session_id
    assert len(portal_sandbox.server.portal.sessions) == before + 1
    assert len(smtp.received) == 1
    store = ops.store_for(settings.ops_db)
    assert len(audit.browse(store)) == 1
    with store.connect() as conn:
        assert conn.execute("SELECT count(*) FROM link_requests").fetchone()[0] == 1
    third = make(settings, request)  # a new submission is a new link
    assert third.session_id != first.session_id and len(smtp.received) == 2


def test_copy_rerun_returns_the_same_session(stripe_settings, portal_sandbox):
    request = LinkRequest(dunning_customer(stripe_settings), "portal", "copy")
    before = len(portal_sandbox.server.portal.sessions)
    nonce = secrets.token_hex(8)
    first, again = make(stripe_settings, request, nonce), make(stripe_settings, request, nonce)
    assert (first.session_id, first.url) == (again.session_id, again.url)
    assert len(portal_sandbox.server.portal.sessions) == before + 1
    assert len(audit.browse(ops.store_for(stripe_settings.ops_db))) == 1


def test_hourly_limit_counts_links_made(stripe_settings, settings_with):
    settings = settings_with(PORTAL_LINKS_PER_HOUR="2")
    customer_id = dunning_customer(settings)
    for nonce in ("a", "b"):
        make(settings, LinkRequest(customer_id, "portal", "copy"), nonce=nonce)
    with pytest.raises(LinkError, match="the limit"):
        make(settings, LinkRequest(customer_id, "portal", "copy"), nonce="c")
    assert (
        make(settings, LinkRequest(customer_id, "portal", "copy"), nonce="a").outcome == "created"
    )  # a rerun


def test_finance_is_refused_even_when_calling_the_function(stripe_settings, portal_sandbox):
    before = len(portal_sandbox.server.portal.sessions)
    with pytest.raises(LinkError, match="finance"):
        make(stripe_settings, LinkRequest(dunning_customer(stripe_settings), "portal", "copy"),
             staff=StaffUser("fiona", "Fiona", "finance"))  # fmt: skip
    assert len(portal_sandbox.server.portal.sessions) == before


# --- the email and where the URL may be -------------------------------------------------------


def test_dunning_email_goes_to_the_stripe_address_with_the_invoice_page(stripe_settings, settings_with, smtp):
    settings = settings_with(**smtp.env(), COMPANY_NAME="Acme Cloud")
    customer_id = dunning_customer(settings)
    email, hosted = warehouse_rows(
        settings,
        "SELECT c.email, i.hosted_invoice_url FROM customers c JOIN invoices i ON i.customer_id = c.id"
        " WHERE c.id = ? AND i.status = 'open' ORDER BY i.created DESC LIMIT 1",
        customer_id,
    )[0]
    result = make(settings, LinkRequest(customer_id, "payment_method_update", "email"))
    assert result.outcome == "emailed" and result.recipient == email and result.url is None
    [received] = smtp.received
    assert received.rcpt_tos == [email]
    plain = received.message.get_body(("plain",)).get_content()
    assert hosted in plain and "/p/session/" in plain


def test_without_smtp_the_email_is_written_to_the_outbox_folder(stripe_settings):
    result = make(stripe_settings, LinkRequest(dunning_customer(stripe_settings), "portal", "email"))
    assert result.outcome == "written"
    [eml] = list(stripe_settings.outbox_dir.glob("*.eml"))
    assert "/p/session/" in eml.read_text()


def test_smtp_down_queues_and_says_so(stripe_settings, settings_with):
    settings = settings_with(SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()), SMTP_SECURITY="none")
    result = make(settings, LinkRequest(dunning_customer(settings), "portal", "email"))
    assert result.outcome == "queued" and "waits in the outbox" in result.message
    row = audit.browse(ops.store_for(settings.ops_db)).iloc[0]
    assert row["outcome"] == "queued" and "Could not reach the mail server" in row["error"]


def test_portal_urls_stay_out_of_logs_audit_and_link_requests(stripe_settings, caplog):
    caplog.set_level(logging.DEBUG)
    customer_id = dunning_customer(stripe_settings)
    copied = make(stripe_settings, LinkRequest(customer_id, "portal", "copy"))
    emailed = make(stripe_settings, LinkRequest(customer_id, "portal", "email"))
    assert "POST" in caplog.text or "billing_portal" in caplog.text  # the stripe package did log at debug
    token = copied.url.rsplit("/", 1)[1]
    assert token not in caplog.text and "/p/session/" not in caplog.text
    assert copied.url not in repr(copied)
    store = ops.store_for(stripe_settings.ops_db)
    with store.connect() as conn:
        for table in ("audit_log", "link_requests"):
            for row in conn.execute(f"SELECT * FROM {table}"):  # noqa: S608
                assert not any("/p/session/" in str(value) for value in tuple(row)), table
        [message] = [row[0] for row in conn.execute("SELECT message FROM outbox")]
    assert audit.browse(store)["stripe_session_id"].tolist() == [emailed.session_id, copied.session_id]
    assert b"/p/session/" in message  # the one copy that goes to the customer


def test_stripe_debug_printing_is_refused(stripe_settings, monkeypatch):
    """STRIPE_LOG=debug makes the stripe package print response bodies (portal URLs) to stderr."""
    monkeypatch.setenv("STRIPE_LOG", "debug")
    assert "unset it" in stripe_error(stripe_settings, {"customer": dunning_customer(stripe_settings)})


def test_cancel_email_names_the_plan_not_internal_ids(stripe_settings, settings_with, smtp):
    settings = settings_with(**smtp.env())
    context, sub, _ = updatable(settings)
    make(settings, LinkRequest(context.customer_id, "subscription_cancel", "email", sub.id))
    plain = smtp.received[0].message.get_body(("plain",)).get_content()
    assert f"cancel your {sub.plan} subscription" in plain and sub.id not in plain
