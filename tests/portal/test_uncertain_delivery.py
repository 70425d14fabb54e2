"""A message the mail server accepted without its answer reaching us is "uncertain": never
sent again by a plain retry, and sent again only when an admin accepts a duplicate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from console import ops
from console.links.context import LinkError
from console.links.delivery import deliver
from console.links.requests import retry_email
from console.ops import outbox
from console.staff.roles import StaffUser
from tests.conftest import free_port
from tests.portal.conftest import Received, SmtpServer

ADMIN = StaffUser("ada", "Ada Admin", "admin")


class AcceptThenHangUp:
    """Takes the whole message, then drops the connection before answering it, as a lost
    acknowledgement looks from the client; answers normally once `hang_up` is False."""

    def __init__(self, server: SmtpServer) -> None:
        self.server, self.hang_up = server, True

    async def handle_DATA(self, server, session, envelope) -> str:
        self.server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        if self.hang_up:
            server.transport.abort()
        return "250 OK"


@pytest.fixture
def flaky_smtp() -> Iterator[tuple[SmtpServer, AcceptThenHangUp]]:
    server = SmtpServer("127.0.0.1", free_port(), "none")
    handler = AcceptThenHangUp(server)
    controller = Controller(handler, hostname=server.host, port=server.port)
    controller.start()
    yield server, handler
    controller.stop()


def queue_message(settings) -> int:
    return outbox.record(
        ops.store_for(settings.ops_db), request_key="portal-link-test", customer_id="cus_1",
        sender="billing@example.com", recipient="dana@example.com", subject="Your billing",
        message=b"Subject: Your billing\r\n\r\nhello\r\n",
    )  # fmt: skip


@pytest.mark.usefixtures("ops_backend")
def test_a_lost_acknowledgement_is_uncertain_and_needs_an_admin_to_accept_a_duplicate(
    flaky_smtp, settings_with
) -> None:
    server, handler = flaky_smtp
    settings = settings_with(**server.env())
    message_id = queue_message(settings)

    first = deliver(settings, message_id)
    assert first.status == "uncertain" and first.doubtful
    assert "may have been delivered" in (first.error or "")
    assert len(server.received) == 1  # it did arrive

    again = deliver(settings, message_id)  # any automatic or plain resend is refused
    assert not again.attempted and again.status == "uncertain"
    with pytest.raises(LinkError, match="duplicate"):
        retry_email(settings, ADMIN, message_id)
    assert len(server.received) == 1

    handler.hang_up = False
    resent = retry_email(settings, ADMIN, message_id, accept_duplicate=True)
    assert resent.status == "sent"
    assert len(server.received) == 2


def test_a_refused_connection_stays_queued_not_uncertain(settings_with) -> None:
    settings = settings_with(SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()), SMTP_SECURITY="none")
    message_id = queue_message(settings)
    failed = deliver(settings, message_id)
    assert failed.status == "queued" and not failed.doubtful
    assert "Could not reach" in (failed.error or "")
