"""Emails to customers: composed from templates, sent over SMTP with verified TLS,
or written as .eml files to the outbox folder when no SMTP server is configured.

Header injection is impossible by construction: every header value is reduced
to one line before it reaches `email.message.EmailMessage`, addresses are
`Address` objects (which refuse CR/LF) whose display names hold no character that
needs quoting (`display_name`), and the SMTP envelope names exactly one recipient,
given separately from the headers.
"""

from __future__ import annotations

import email.policy
import ipaddress
import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

import jinja2

from settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
_jinja = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)

# Per flow: the subject's words and the sentence that says what the link is for.
PURPOSES: dict[str, tuple[str, str]] = {
    "portal": ("manage your billing", "You can review your subscriptions, invoices and payment details."),
    "payment_method_update": (
        "update your payment method",
        "Please update the card or other payment method we charge for your subscription.",
    ),
    "subscription_cancel": ("cancel your subscription", "As requested, you can cancel {target} here."),
    "subscription_update": ("change your plan", "As requested, you can change the plan of {target} here."),
    "subscription_update_confirm": (
        "confirm your plan change",
        "As requested, you can review and confirm the change of {target} to {price}.",
    ),
    "customer_update": (
        "update your billing details",
        "You can update your billing address, email and tax details.",
    ),
}


class MailError(Exception):
    """The message was not sent. The text says why and what to do; it never quotes the message."""


class MailUncertain(MailError):
    """The whole message reached the server, but its answer was lost: it may have been accepted.
    Sending again may deliver a second copy."""


class RecipientError(ValueError):
    """The customer's email address cannot receive a message."""


@dataclass(frozen=True)
class DunningInvoice:
    """An open invoice with a failed payment: its hosted page lets the customer pay without the portal."""

    number: str | None
    amount: str
    url: str


def one_line(text: str | None) -> str:
    """Text for a header: every run of whitespace (CR and LF included) becomes one space."""
    return " ".join(str(text or "").split())


# RFC 5322 specials: a display name holding one must be quoted, and Python's header folding
# drops those quotes when it wraps a long name, turning "Ann, x@evil.example" into two
# more addresses. A display name without them needs no quotes, so nothing can come apart.
_NAME_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
MAX_DISPLAY_NAME = 78


def display_name(name: str | None) -> str:
    """A customer's name as shown beside their address: one line, no specials, at most 78 characters."""
    return one_line(_NAME_SPECIALS.sub(" ", one_line(name)))[:MAX_DISPLAY_NAME].rstrip()


def customer_address(name: str | None, email: str | None) -> Address:
    """The one recipient: the email on the Stripe customer, with their name shown beside it."""
    addr = (email or "").strip()
    if not addr or any(c in addr for c in "\r\n,;<> \t") or addr.count("@") != 1:
        raise RecipientError(f"The customer's email address ({one_line(addr)!r}) is not a usable address.")
    try:
        return Address(display_name=display_name(name), addr_spec=addr)
    except (ValueError, IndexError) as error:
        raise RecipientError(
            f"The customer's email address ({addr!r}) is not a usable address: {error}"
        ) from None


def sender_address(settings: Settings) -> Address:
    name, addr = parseaddr(one_line(settings.mail_from))
    if not addr or "@" not in addr:
        raise MailError(f"MAIL_FROM ({settings.mail_from!r}) is not an email address: set it to one.")
    return Address(display_name=one_line(name or settings.company_name), addr_spec=addr)


def compose_portal_email(
    settings: Settings,
    *,
    to: Address,
    flow: str,
    url: str,
    target: str | None = None,
    price: str | None = None,
    invoice: DunningInvoice | None = None,
) -> EmailMessage:
    """The portal-link email: plain text and HTML (autoescaped), from the templates."""
    sender = sender_address(settings)
    subject_words, sentence = PURPOSES[flow]
    values = {
        "company": one_line(settings.company_name),
        "customer_name": one_line(to.display_name),
        "purpose_title": subject_words[0].upper() + subject_words[1:],
        "purpose": sentence.format(target=target or "your subscription", price=price or "the new plan"),
        "url": url,
        "link_text": f"Open the billing portal to {subject_words}",
        "invoice": invoice,
        "after_expiration": settings.portal_after_expiration,
    }
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = one_line(_jinja.get_template("portal_link_subject.txt").render(values))
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_jinja.get_template("portal_link.txt").render(values))
    message.add_alternative(_jinja.get_template("portal_link.html").render(values), subtype="html")
    return message


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Verifies the server's certificate and host name; SMTP_CA_FILE adds a private CA."""
    cafile = str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as error:
        raise MailError(f"SMTP_CA_FILE ({cafile}) cannot be read as a CA certificate: {error}") from None


class _Tracking:
    """Notes when the end of a message's data was written: a failure after that is uncertain."""

    data_sent = False

    def send(self, s: str | bytes) -> None:
        super().send(s)  # type: ignore[misc]
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.data_sent = True


class _SMTP(_Tracking, smtplib.SMTP):
    pass


class _SMTPSSL(_Tracking, smtplib.SMTP_SSL):
    pass


def send_smtp(settings: Settings, sender: str, recipient: str, message: bytes) -> None:
    """Send one stored message to exactly `recipient`.

    MailError when it did not go out; MailUncertain when the server may have it (its
    answer to the message was lost).
    """
    host, port, security = settings.required("smtp_host"), settings.smtp_port, settings.smtp_security
    where = f"{host}:{port}"
    if security == "none" and settings.smtp_user and not _is_loopback(host):
        raise MailError(
            f"Refusing to send the SMTP password to {where} without TLS: set SMTP_SECURITY to "
            "starttls or tls."
        )
    smtp: _SMTP | _SMTPSSL | None = None
    try:
        if security == "tls":
            smtp = _SMTPSSL(host, port, timeout=30, context=tls_context(settings))
        else:
            smtp = _SMTP(host, port, timeout=30)
        with smtp:
            if security == "starttls":
                smtp.starttls(context=tls_context(settings))
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.sendmail(sender, [recipient], message)
    except ssl.SSLCertVerificationError as error:
        raise MailError(
            f"The mail server {where} presented a TLS certificate that could not be verified "
            f"({error.verify_message}); nothing was sent. If it uses a private CA, set SMTP_CA_FILE to "
            "that CA's certificate."
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise MailError(
            f"The mail server {where} does not offer STARTTLS; nothing was sent. Use SMTP_SECURITY=tls "
            "with its TLS port, or another server."
        ) from None
    except smtplib.SMTPAuthenticationError as error:
        raise MailError(
            f"The mail server {where} refused the sign-in (code {error.smtp_code}); check SMTP_USER and "
            "SMTP_PASSWORD."
        ) from None
    except smtplib.SMTPRecipientsRefused as error:
        codes = ", ".join(str(code) for code, _ in error.recipients.values())
        raise MailError(f"The mail server {where} refused the recipient (code {codes}).") from None
    except smtplib.SMTPResponseException as error:
        raise MailError(f"The mail server {where} answered with error {error.smtp_code}.") from None
    except (OSError, smtplib.SMTPException) as error:
        if smtp is not None and smtp.data_sent:
            raise MailUncertain(
                f"The mail server {where} received the whole message but its answer was lost: it may "
                "have been delivered. Check the mail server's log before sending it again."
            ) from None
        if isinstance(error, ssl.SSLError):
            raise MailError(
                f"TLS with the mail server {where} failed ({error.reason}); nothing was sent."
            ) from None
        reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
        raise MailError(
            f"Could not reach the mail server {where} ({reason}); the message stays queued."
        ) from None


def write_eml(folder: Path, name: str, message: bytes) -> Path:
    """Write a message file readable only by its owner (it holds a portal link), atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    partial = folder / f".{name}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(message)
    partial.replace(path)
    return path
