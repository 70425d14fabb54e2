"""Delivering an outbox message: claim it, send it over SMTP (or write it as an .eml file
when no SMTP server is configured, as in the demo), record the result.

An SMTP failure puts the message back in the queue with the reason, ready for an
admin's retry. A message the server may have received (its answer was lost) becomes
`uncertain`, and one whose process died mid-send stays `sending`: neither is sent again
unless an admin accepts a possible duplicate (console/ops/outbox.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from console import ops
from console.links import mail
from console.ops import outbox
from settings import Settings


@dataclass(frozen=True)
class Delivery:
    outbox_id: int
    request_key: str
    customer_id: str
    status: str  # one of console.ops.outbox.STATUSES
    recipient: str
    attempts: int
    error: str | None = None
    file: Path | None = None
    attempted: bool = False  # this call tried to send it

    @property
    def delivered(self) -> bool:
        return self.status in {"sent", "written"}

    @property
    def doubtful(self) -> bool:
        """It may have gone out: a retry may send a duplicate."""
        return self.status in outbox.DOUBTFUL


def delivery_of(message: outbox.OutboxMessage, attempted: bool = False) -> Delivery:
    return Delivery(
        outbox_id=message.id,
        request_key=message.request_key,
        customer_id=message.customer_id,
        status=message.status,
        recipient=message.recipient,
        attempts=message.attempts,
        error=message.last_error,
        file=Path(message.file_path) if message.file_path else None,
        attempted=attempted,
    )


def deliver(settings: Settings, outbox_id: int) -> Delivery:
    """Send (or write) a queued message once; any other state is returned as it is."""
    store = ops.store_for(settings.ops_db)
    if not outbox.claim(store, outbox_id):
        return delivery_of(outbox.get(store, outbox_id))
    message = outbox.get(store, outbox_id)
    try:
        if settings.smtp_host:
            mail.send_smtp(settings, message.sender, message.recipient, message.message)
            status, file_path = "sent", None
        else:
            stamp = message.created_at.replace(":", "").replace("-", "")
            name = f"{stamp}-{message.id}-{message.customer_id}.eml"
            status, file_path = "written", str(mail.write_eml(settings.outbox_dir, name, message.message))
    except mail.MailUncertain as error:
        outbox.mark_uncertain(store, outbox_id, str(error))
    except mail.MailError as error:
        outbox.requeue(store, outbox_id, str(error))
    except OSError as error:
        outbox.requeue(store, outbox_id, f"Could not write the outbox file: {error}")
    else:
        outbox.mark_delivered(store, outbox_id, status, file_path)
    return delivery_of(outbox.get(store, outbox_id), attempted=True)
