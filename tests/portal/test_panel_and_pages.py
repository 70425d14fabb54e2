"""The portal panel and the admin audit and outbox pages, through Streamlit's AppTest."""

from __future__ import annotations

import duckdb
import pytest

from console import ops
from console.display.tables import csv_text
from console.links import delivery
from console.ops import audit, outbox
from console.staff.roles import StaffUser
from tests.conftest import free_port, notices
from tests.portal.conftest import dunning_customer, start_smtp, warehouse_rows

PANEL = "tests/portal/panel_app.py"


def panel(app_as, role, customer_id):
    at = app_as(role, PANEL)
    at.session_state["customer_id"] = customer_id
    return at.run()


def button(at, customer_id, name):
    return at.button(key=f"portal_link_{customer_id}_{name}")


def texts(at) -> str:
    kinds = ("text", "caption", "markdown", "info", "warning", "error", "success")
    return " ".join(str(e.value) for kind in kinds for e in at.get(kind))


def test_finance_sees_no_link_controls(app_as, stripe_settings):
    at = panel(app_as, "finance", dunning_customer(stripe_settings))
    assert not at.exception
    assert "Your role (finance) cannot create portal links." in texts(at)
    assert not [b for b in at.button if b.key and "portal_link" in b.key]


def test_email_a_card_update_link_from_the_panel(
    app_as, stripe_settings, smtp, settings_with, portal_sandbox
):
    settings = settings_with(**smtp.env())
    customer_id = dunning_customer(settings)
    email = warehouse_rows(settings, "SELECT email FROM customers WHERE id = ?", customer_id)[0][0]
    at = panel(app_as, "support", customer_id)
    assert not at.exception
    flow = at.selectbox(key=f"portal_link_{customer_id}_flow_payment_method_update")
    assert flow.value == "payment_method_update"  # preselected: the customer is in dunning
    assert "invoice in dunning" in texts(at)
    assert email in [t.value for t in at.text]  # the confirmation shows the one recipient
    assert not at.text_input  # no field to type another address
    before = len(portal_sandbox.server.portal.sessions)
    button(at, customer_id, "email").click()
    at.run()
    assert not at.exception and not at.error and not notices(at, "error")
    assert notices(at, "success") == [f"Portal link emailed to {email}."]
    assert len(smtp.received) == 1 and smtp.received[0].rcpt_tos == [email]
    at.run()  # a rerun repeats nothing
    assert len(smtp.received) == 1
    assert len(portal_sandbox.server.portal.sessions) == before + 1
    assert not [b for b in at.button if b.key == f"portal_link_{customer_id}_email"]
    at.button(key=f"portal_link_{customer_id}_done_again").click()
    at.run()
    assert button(at, customer_id, "email").label == "Email to customer"
    history = at.dataframe[0].value
    assert history["outcome"].tolist() == ["emailed"] and history["agent"].tolist() == ["sam"]


def test_copy_link_shows_the_url_once(app_as, stripe_settings):
    customer_id = dunning_customer(stripe_settings)
    at = panel(app_as, "support", customer_id)
    at.selectbox(key=f"portal_link_{customer_id}_flow_payment_method_update").set_value("portal")
    at.run()
    button(at, customer_id, "copy").click()
    at.run()
    assert not at.exception
    [code] = at.code
    url = code.value
    assert "/p/session/" in url
    at.run()
    assert not at.code
    assert url not in repr(at.session_state) and "/p/session/" not in repr(at.session_state)
    rows = audit.browse(ops.store_for(stripe_settings.ops_db))
    row = rows.iloc[0]
    assert row["delivery"] == "copy" and row["stripe_session_id"].startswith("bps_")
    assert url not in csv_text(rows)


def test_stripe_error_is_shown_and_nothing_is_sent(
    app_as, stripe_settings, smtp, settings_with, portal_sandbox
):
    settings = settings_with(**smtp.env())
    customer_id = dunning_customer(settings)
    portal_sandbox.set_portal_configured(False)
    at = panel(app_as, "support", customer_id)
    button(at, customer_id, "email").click()
    at.run()
    [error] = notices(at, "error")
    assert "Customer portal" in error and "not set up" in error
    assert smtp.received == []
    assert button(at, customer_id, "email").label == "Email to customer"  # the form stays for another try


def test_deleted_customer_gets_no_form(app_as, stripe_settings):
    deleted = warehouse_rows(stripe_settings, "SELECT id FROM customers WHERE deleted LIMIT 1")[0][0]
    at = panel(app_as, "support", deleted)
    assert "deleted in Stripe" in at.warning[0].value
    assert not [b for b in at.button if b.key and b.key.startswith("portal_link")]


def test_subscription_flows_offer_only_fitting_subscriptions(app_as, stripe_settings):
    customer_id = warehouse_rows(
        stripe_settings,
        """SELECT customer_id FROM subscriptions WHERE status = 'active' AND NOT cancel_at_period_end
           ORDER BY customer_id LIMIT 1""",
    )[0][0]
    # The edge on purpose, whatever the generated account holds: the same customer also has
    # a canceled subscription (in this test's copy of the warehouse).
    with duckdb.connect(str(stripe_settings.billing_db)) as con:
        con.execute(
            """INSERT INTO subscriptions BY NAME
               SELECT * REPLACE ('sub_canceled_edge' AS id, 'canceled' AS status)
               FROM subscriptions WHERE customer_id = ? LIMIT 1""",
            [customer_id],
        )
    sql = "SELECT id, status FROM subscriptions WHERE customer_id = ?"
    statuses = dict(warehouse_rows(stripe_settings, sql, customer_id))
    at = panel(app_as, "support", customer_id)
    at.selectbox(key=f"portal_link_{customer_id}_flow_portal").set_value("subscription_cancel")
    at.run()
    options = at.selectbox(key=f"portal_link_{customer_id}_flow_sub_subscription_cancel").options
    offered = {sub_id for sub_id in statuses if any(option.startswith(sub_id) for option in options)}
    assert offered and all(statuses[sub_id] == "active" for sub_id in offered)
    assert any(status == "canceled" for status in statuses.values())


# --- admin pages ------------------------------------------------------------------------------


def test_audit_page_browses_filters_and_exports(app_as, settings_with):
    settings = settings_with()
    store = ops.store_for(settings.ops_db)
    audit.record(
        store,
        audit.AuditEntry("sam", "support", "cus_a", "portal", "copy", "created", stripe_session_id="bps_1"),
    )
    audit.record(
        store, audit.AuditEntry("ada", "admin", "cus_b", "payment_method_update", "email", "emailed")
    )
    at = app_as("admin", "pages/audit.py").run()
    assert not at.exception
    assert at.dataframe[0].value["customer_id"].tolist() == ["cus_b", "cus_a"]
    at.selectbox[0].set_value("sam")
    at.run()
    assert at.dataframe[0].value["customer_id"].tolist() == ["cus_a"]
    at.text_input[0].input("cus_zzz")
    at.run()
    assert at.dataframe[0].value.empty
    assert at.get("download_button")


def test_outbox_page_lists_and_retries_a_queued_message_once(app_as, settings_with):
    port = free_port()
    settings = settings_with(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_SECURITY="none")
    store = ops.store_for(settings.ops_db)
    audit.record(
        store, audit.AuditEntry("sam", "support", "cus_a", "portal", "email", "queued", request_key="k1")
    )
    outbox_id = outbox.record(
        store, request_key="k1", customer_id="cus_a", sender="billing@example.com",
        recipient="a@example.com", subject="S", message=b"Subject: S\r\n\r\nhello\r\n",
    )  # fmt: skip
    assert delivery.deliver(settings, outbox_id).status == "queued"
    at = app_as("admin", "pages/outbox.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["status"].tolist() == ["queued"] and "Could not reach" in table["last_error"][0]
    server, controller = start_smtp(port=port)
    try:
        at.button[0].click()
        at.run()
        assert notices(at, "success") == [f"Message {outbox_id} is sent."]
        assert len(server.received) == 1 and server.received[0].rcpt_tos == ["a@example.com"]
        assert at.dataframe[0].value["status"].tolist() == ["sent"]
        assert not at.button  # nothing queued: nothing to retry
    finally:
        controller.stop()
    outcomes = audit.browse(store)[["agent", "outcome"]].values.tolist()
    assert outcomes[0] == ["ada", "retry_sent"]


def test_retry_is_refused_for_finance(settings_with):
    from console.links.context import LinkError
    from console.links.requests import retry_email

    with pytest.raises(LinkError, match="finance"):
        retry_email(settings_with(), StaffUser("fiona", "F", "finance"), 1)
