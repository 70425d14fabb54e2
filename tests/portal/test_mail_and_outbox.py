"""The portal-link email over a real SMTP server (aiosmtpd on loopback), the outbox (on both backends
of the ops store, raced by two processes), verified TLS."""

from __future__ import annotations

import os
import stat
import threading
from email import message_from_bytes, policy
from email.headerregistry import Address
from pathlib import Path

import pytest

from console import ops
from console.links import delivery as links_delivery
from console.links import mail
from console.links.mail import DunningInvoice
from console.ops import outbox
from tests.conftest import free_port, race_processes
from tests.portal.conftest import start_smtp

URL = "https://billing.stripe.com/p/session/test_YWNjdF9zZWNyZXQ"
INVOICE = DunningInvoice(
    number="INV-0042", amount="$20.00", url="https://invoice.stripe.com/i/acct_1/test_inv"
)


def queue(
    settings,
    name="Dana Dunning",
    email="dana@example.com",
    key="k1",
    invoice=None,
    flow="payment_method_update",
):
    to = mail.customer_address(name, email)
    message = mail.compose_portal_email(settings, to=to, flow=flow, url=URL, invoice=invoice)
    store = ops.store_for(settings.ops_db)
    outbox_id = outbox.record(
        store, request_key=key, customer_id="cus_1", sender=mail.sender_address(settings).addr_spec,
        recipient=to.addr_spec, subject=str(message["Subject"]), message=message.as_bytes(),
    )  # fmt: skip
    return store, outbox_id


def parts(received):
    message = received.message
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return message, plain, html


def test_email_goes_to_the_customer_with_both_parts_and_the_link(smtp, settings_with):
    settings = settings_with(
        **smtp.env(), MAIL_FROM="Billing <billing@acme.example>", COMPANY_NAME="Acme Cloud"
    )
    _, outbox_id = queue(settings, invoice=INVOICE)
    delivery = links_delivery.deliver(settings, outbox_id)
    assert delivery.status == "sent" and delivery.attempted and delivery.error is None
    [received] = smtp.received
    assert received.rcpt_tos == ["dana@example.com"]
    assert received.mail_from == "billing@acme.example"
    message, plain, html = parts(received)
    assert message["To"] == "Dana Dunning <dana@example.com>"
    assert message["From"] == "Billing <billing@acme.example>"
    assert message["Subject"] == "Acme Cloud: Update your payment method"
    for body in (plain, html):
        assert URL in body
        assert INVOICE.url in body and "INV-0042" in body and "$20.00" in body
        assert "Acme Cloud" in body
        assert "expired" in body
        assert "update the card" in body
    assert f'href="{URL}"' in html


def test_email_without_dunning_invoice_has_no_invoice_paragraph(smtp, settings_with):
    settings = settings_with(**smtp.env())
    _, outbox_id = queue(settings, flow="customer_update")
    links_delivery.deliver(settings, outbox_id)
    _, plain, html = parts(smtp.received[0])
    assert "unpaid invoice" not in plain and "unpaid invoice" not in html
    assert "billing address" in plain


def test_a_name_with_a_bcc_line_cannot_add_a_header(smtp, settings_with):
    settings = settings_with(**smtp.env())
    _, outbox_id = queue(
        settings, name="Eve\r\nBcc: attacker@evil.example\r\nX-Evil: 1", email="eve@example.com"
    )
    assert links_delivery.deliver(settings, outbox_id).status == "sent"
    [received] = smtp.received
    assert received.rcpt_tos == ["eve@example.com"]
    message = received.message
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert sorted(message.keys()) == sorted(
        ["Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type"]
    )
    # Kept as harmless text of the display name, without the specials that would need quoting.
    assert message["To"].addresses[0].display_name == "Eve Bcc attacker evil example X-Evil 1"
    assert message["To"].addresses[0].addr_spec == "eve@example.com"
    assert len(message["To"].addresses) == 1


@pytest.mark.parametrize(
    "email",
    ["", None, "dana@example.com, evil@example.org", "dana@example.com\r\nBcc: evil@example.org",
     "Dana <dana@example.com>", "no-at-sign", "a@b@c"],
)  # fmt: skip
def test_unusable_customer_addresses_are_refused(email):
    with pytest.raises(mail.RecipientError, match="not a usable address"):
        mail.customer_address("Dana", email)


def test_html_in_a_name_is_escaped_in_the_html_part(smtp, settings_with):
    settings = settings_with(**smtp.env(), COMPANY_NAME="Acme <i>Cloud</i>")
    _, outbox_id = queue(settings, name="<script>alert(1)</script> Hal & Co", email="hal@example.com")
    links_delivery.deliver(settings, outbox_id)
    _, plain, html = parts(smtp.received[0])
    # The display name keeps the name's words without RFC 5322 specials; what is left is escaped.
    assert "<script>" not in html and "Hello script alert 1 /script Hal &amp; Co," in html
    assert "<i>" not in html and "Acme &lt;i&gt;Cloud&lt;/i&gt;" in html
    assert "Hello script alert 1 /script Hal & Co," in plain  # plain text is shown as text by mail readers
    # The HTML part escapes any name it is given, not only the reduced ones.
    to = Address(display_name="<script>alert(1)</script> Hal", addr_spec="hal@example.com")
    message = mail.compose_portal_email(settings, to=to, flow="portal", url=URL)
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; Hal" in html


@pytest.mark.usefixtures("ops_backend")
def test_smtp_down_leaves_the_message_queued_and_retry_sends_it_once(settings_with):
    port = free_port()
    settings = settings_with(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_SECURITY="none")
    _, outbox_id = queue(settings)
    down = links_delivery.deliver(settings, outbox_id)
    assert down.status == "queued" and down.attempts == 1
    assert "Could not reach the mail server 127.0.0.1" in down.error
    assert URL not in down.error
    server, controller = start_smtp(port=port)
    try:
        retried = links_delivery.deliver(settings, outbox_id)
        again = links_delivery.deliver(settings, outbox_id)
    finally:
        controller.stop()
    assert retried.status == "sent" and retried.attempted and retried.error is None
    assert not again.attempted and again.status == "sent" and again.attempts == 2
    assert len(server.received) == 1


@pytest.mark.usefixtures("ops_backend")
def test_concurrent_deliveries_send_once(smtp, settings_with):
    settings = settings_with(**smtp.env())
    _, outbox_id = queue(settings)
    results = []

    def deliver():
        results.append(links_delivery.deliver(settings, outbox_id))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.attempted for r in results) == 1
    assert len(smtp.received) == 1


DELIVER_SCRIPT = """
from console.links import delivery
from settings import load_settings

settings = load_settings()
wait_for_go()
print(delivery.deliver(settings, int(sys.argv[3])).attempted)
"""


@pytest.mark.usefixtures("ops_backend")
def test_two_processes_delivering_the_same_message_send_it_once(smtp, settings_with, tmp_path):
    settings = settings_with(**smtp.env())
    _, outbox_id = queue(settings)
    printed = race_processes(f"sys.argv.append({outbox_id})\n{DELIVER_SCRIPT}", 2, tmp_path)
    assert sorted(out.strip() for out in printed) == ["False", "True"]
    assert len(smtp.received) == 1
    assert outbox.get(ops.store_for(settings.ops_db), outbox_id).status == "sent"


@pytest.mark.usefixtures("ops_backend")
def test_record_keeps_one_message_per_request(settings_with):
    settings = settings_with()
    store, first = queue(settings, key="same")
    _, second = queue(settings, key="same", name="Someone Else")
    assert first == second
    with store.connect() as conn:
        assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1


@pytest.mark.usefixtures("ops_backend")
def test_without_smtp_the_message_is_written_as_an_eml_file(settings_with):
    settings = settings_with()
    assert settings.smtp_host is None
    store, outbox_id = queue(settings)
    delivery = links_delivery.deliver(settings, outbox_id)
    assert delivery.status == "written" and delivery.file is not None
    assert delivery.file.parent == settings.outbox_dir and delivery.file.suffix == ".eml"
    assert stat.S_IMODE(os.stat(delivery.file).st_mode) == 0o600
    written = message_from_bytes(delivery.file.read_bytes(), policy=policy.default)
    assert written["To"] == "Dana Dunning <dana@example.com>"
    assert URL in written.get_body(("plain",)).get_content()
    listed = outbox.messages(store)
    assert listed.loc[0, "status"] == "written" and listed.loc[0, "file_path"] == str(delivery.file)
    assert "message" not in listed.columns


# --- verified TLS ------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_untrusted_certificate_is_refused_and_trusted_ca_is_accepted(settings_with, test_ca, security):
    server, controller = start_smtp(security, cert=test_ca.server_cert)
    try:
        settings = settings_with(**server.env())
        _, outbox_id = queue(settings)
        refused = links_delivery.deliver(settings, outbox_id)
        assert refused.status == "queued"
        assert "could not be verified" in refused.error and "SMTP_CA_FILE" in refused.error
        assert server.received == []
        trusting = settings_with(SMTP_CA_FILE=str(test_ca.ca_file))
        accepted = links_delivery.deliver(trusting, outbox_id)
        assert accepted.status == "sent", accepted.error
        assert len(server.received) == 1
    finally:
        controller.stop()


def test_certificate_for_another_host_name_is_refused(settings_with, test_ca):
    server, controller = start_smtp("starttls", cert=test_ca.wrong_name_cert)
    try:
        settings = settings_with(**server.env(), SMTP_CA_FILE=str(test_ca.ca_file))
        _, outbox_id = queue(settings)
        refused = links_delivery.deliver(settings, outbox_id)
        assert refused.status == "queued" and "could not be verified" in refused.error
        assert "mismatch" in refused.error.lower() or "hostname" in refused.error.lower()
        assert server.received == []
    finally:
        controller.stop()


def test_starttls_required_but_not_offered_is_refused(smtp, settings_with):
    settings = settings_with(**{**smtp.env(), "SMTP_SECURITY": "starttls"})
    _, outbox_id = queue(settings)
    refused = links_delivery.deliver(settings, outbox_id)
    assert refused.status == "queued" and "does not offer STARTTLS" in refused.error
    assert smtp.received == []


def test_password_is_never_sent_without_tls_to_a_remote_host(settings_with, tmp_path: Path):
    settings = settings_with(
        SMTP_HOST="mail.example.org", SMTP_SECURITY="none", SMTP_USER="u", SMTP_PASSWORD="hunter2-secret"
    )
    _, outbox_id = queue(settings)
    refused = links_delivery.deliver(settings, outbox_id)
    assert refused.status == "queued" and "without TLS" in refused.error
    assert "hunter2" not in refused.error
