"""Fixtures for portal links: a real SMTP server on loopback (plain, STARTTLS, TLS), a test CA,
a small warehouse, and settings built from the isolated console environment."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import ssl
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller

from settings import Settings, load_settings
from tests.conftest import ROOT, free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class SmtpServer:
    host: str
    port: int
    security: str
    received: list[Received] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {"SMTP_HOST": self.host, "SMTP_PORT": str(self.port), "SMTP_SECURITY": self.security}


class Collect:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server, session, envelope) -> str:
        self.server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def start_smtp(security: str = "none", cert: tuple[Path, Path] | None = None, port: int | None = None):
    """An aiosmtpd server on 127.0.0.1; `security` as SMTP_SECURITY names it."""
    server = SmtpServer("127.0.0.1", port or free_port(), security)
    kwargs: dict = {}
    if cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*cert)
        kwargs = {"ssl_context": context} if security == "tls" else {"tls_context": context}
    controller = Controller(Collect(server), hostname=server.host, port=server.port, **kwargs)
    controller.start()
    return server, controller


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server, controller = start_smtp()
    yield server
    controller.stop()


@dataclass(frozen=True)
class TestCA:
    ca_file: Path
    server_cert: tuple[Path, Path]  # cert, key for 127.0.0.1 / localhost
    wrong_name_cert: tuple[Path, Path]  # signed by the same CA, for mail.example.org only


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("test-ca")
    now = dt.datetime.now(dt.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("Portal tests CA"))
        .issuer_name(name("Portal tests CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(label: str, names: list[x509.GeneralName]) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(label))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_file, key_file = folder / f"{label}.pem", folder / f"{label}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_file, key_file

    return TestCA(
        ca_file=ca_file,
        server_cert=leaf(
            "loopback", [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        ),
        wrong_name_cert=leaf("elsewhere", [x509.DNSName("mail.example.org")]),
    )


@pytest.fixture
def settings_with(console_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Settings of the isolated console, plus the given environment variables (also set in os.environ)."""

    def make(**env: str) -> Settings:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return load_settings()

    return make


# --- a small warehouse -------------------------------------------------------------------

CUSTOMERS = [
    # id, email, name, deleted, preferred_locales
    ("cus_dunning", "dana@example.com", "Dana Dunning", False, ["fr-FR", "en"]),
    ("cus_plain", "paul@example.com", "Paul Plain", False, None),
    ("cus_noemail", None, "Nora No-Email", False, None),
    ("cus_deleted", "dee@example.com", "Dee Deleted", True, None),
    ("cus_evil", "eve@example.com", "Eve\r\nBcc: attacker@evil.example", False, None),
    ("cus_html", "hal@example.com", "<b>Hal</b> <script>alert(1)</script>", False, None),
]


def build_warehouse(path: Path, customers=CUSTOMERS) -> Path:
    conn = duckdb.connect(str(path))
    conn.execute((ROOT / "sync" / "schema.sql").read_text())
    for cid, email, name, deleted, locales in customers:
        conn.execute(
            "INSERT INTO customers (id, email, name, deleted, preferred_locales, created)"
            " VALUES (?, ?, ?, ?, ?, now())",
            [cid, email, name, deleted, locales],
        )
    conn.execute(
        "INSERT INTO products VALUES ('prod_pro', 'Pro', true, now()), ('prod_team', 'Team', true, now())"
    )
    conn.execute(
        "INSERT INTO prices VALUES"
        " ('price_pro_m', 'prod_pro', 'monthly', 'usd', 2000, 'month', 1, true, now()),"
        " ('price_team_m', 'prod_team', 'monthly', 'usd', 5000, 'month', 1, true, now()),"
        " ('price_team_eur', 'prod_team', 'monthly', 'eur', 4500, 'month', 1, true, now())"
    )
    subscriptions = [
        ("sub_dunning", "cus_dunning", "past_due"),
        ("sub_plain", "cus_plain", "active"),
        ("sub_evil", "cus_evil", "active"),
        ("sub_old", "cus_plain", "canceled"),
    ]
    for sub, cus, status in subscriptions:
        conn.execute(
            "INSERT INTO subscriptions (id, customer_id, status, currency, created)"
            " VALUES (?, ?, ?, 'usd', now())",
            [sub, cus, status],
        )
        conn.execute(
            "INSERT INTO subscription_items (id, subscription_id, price_id, quantity)"
            " VALUES (?, ?, 'price_pro_m', 1)",
            ["si_" + sub.removeprefix("sub_"), sub],
        )
    conn.execute(
        "INSERT INTO invoices (id, number, customer_id, subscription_id, status, collection_method, currency,"
        " amount_due, amount_remaining, created, hosted_invoice_url) VALUES ('in_dunning', 'INV-0042',"
        " 'cus_dunning', 'sub_dunning', 'open', 'charge_automatically', 'usd', 2000, 2000, now(),"
        " 'https://invoice.example/pay/in_dunning')"
    )
    conn.execute(
        "INSERT INTO payment_attempts (id, invoice_id, customer_id, status, amount, currency, failure_code)"
        " VALUES ('ch_failed', 'in_dunning', 'cus_dunning', 'failed', 2000, 'usd', 'card_declined')"
    )
    conn.close()
    return path


@pytest.fixture
def warehouse(console_env: dict[str, str]) -> Path:
    return build_warehouse(Path(console_env["BILLING_DB"]))


# --- a sandbox account with customers in dunning, and a warehouse synced from it ----------

# A fixed "now" keeps the generated account (and who is in dunning) the same every day.
ACCOUNT_NOW = 1_793_000_000
# The console's key (README, "Restricted Stripe keys"): portal sessions and the live look.
PORTAL_KEY = "rk_test_console"
# A key of the older kind, that may only create portal sessions: the live look is refused.
PORTAL_ONLY_KEY = "rk_test_portal_links_only"
READ_KEY = "rk_test_read_only"
SANDBOX_KEYS = {PORTAL_KEY: "console", PORTAL_ONLY_KEY: "portal_write", READ_KEY: "read"}


@pytest.fixture(scope="session")
def portal_account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated account; each sandbox serves its own copy, so changes stay in one sandbox."""
    from sandbox.generate import generate_account

    account = tmp_path_factory.mktemp("portal-account")
    generate_account(account, customers=80, months=12, seed=1, now=ACCOUNT_NOW)
    return account


@pytest.fixture(scope="session")
def portal_sandbox(portal_account: Path) -> Iterator[object]:
    """Shared by the tests that change nothing in Stripe."""
    from sandbox.testing import running_sandbox

    with running_sandbox(portal_account, restricted_keys=SANDBOX_KEYS) as handle:
        yield handle


@pytest.fixture(scope="session")
def portal_warehouse_file(portal_sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sync

    path = tmp_path_factory.mktemp("portal-warehouse") / "billing.duckdb"
    sync.run(path, api_key=READ_KEY, api_base=portal_sandbox.base_url)
    return path


@pytest.fixture
def stripe_settings(
    console_env: dict[str, str], portal_sandbox, portal_warehouse_file: Path, settings_with
) -> Iterator[Settings]:
    """Settings of a console whose warehouse is synced from the sandbox and whose portal key is restricted."""
    shutil.copy(portal_warehouse_file, console_env["BILLING_DB"])
    portal_sandbox.set_portal_configured(True)
    yield settings_with(STRIPE_PORTAL_API_KEY=PORTAL_KEY, STRIPE_API_BASE=portal_sandbox.base_url)
    portal_sandbox.set_portal_configured(True)


@dataclass
class LiveStripe:
    sandbox: object
    settings: Settings


@pytest.fixture
def live(
    console_env, portal_account: Path, portal_warehouse_file: Path, settings_with
) -> Iterator[LiveStripe]:
    """A sandbox serving its own copy of the account the warehouse was synced from: for the tests
    that change the account (pay, edit, delete) while the warehouse stays as the sync left it.
    The customer page does not look at Stripe by itself unless a test sets LIVE_REFRESH_AFTER_MINUTES."""
    from console.links.live_changes import LIVE_LOOKS
    from sandbox.testing import running_sandbox

    shutil.copy(portal_warehouse_file, console_env["BILLING_DB"])
    LIVE_LOOKS.forget()  # looks kept from another test's sandbox would answer for this one
    with running_sandbox(portal_account, restricted_keys=SANDBOX_KEYS) as handle:
        settings = settings_with(
            STRIPE_PORTAL_API_KEY=PORTAL_KEY,
            STRIPE_API_BASE=handle.base_url,
            LIVE_REFRESH_AFTER_MINUTES="100000",
        )
        yield LiveStripe(handle, settings)
    LIVE_LOOKS.forget()


def dunning_invoice(settings: Settings, customer_id: str) -> tuple[str, str, str]:
    """(id, number, hosted page) of the customer's open invoice with a failed attempt."""
    return warehouse_rows(
        settings,
        """SELECT i.id, i.number, i.hosted_invoice_url FROM invoices i
           WHERE i.customer_id = ? AND i.status = 'open' AND EXISTS
             (SELECT 1 FROM payment_attempts p WHERE p.invoice_id = i.id AND p.status = 'failed')""",
        customer_id,
    )[0]


def pay_on_hosted_page(sandbox, invoice_id: str) -> None:
    """What the customer does: the hosted invoice page's Pay button (no sync runs after it)."""
    pay = urllib.request.Request(f"{sandbox.base_url}/i/{invoice_id}/pay", data=b"", method="POST")
    with urllib.request.urlopen(pay, timeout=30):
        pass


def warehouse_rows(settings: Settings, sql: str, *args: object) -> list[tuple]:
    conn = duckdb.connect(str(settings.billing_db), read_only=True)
    try:
        return conn.execute(sql, list(args)).fetchall()
    finally:
        conn.close()


def dunning_customer(settings: Settings) -> str:
    return warehouse_rows(
        settings,
        """SELECT DISTINCT i.customer_id FROM invoices i JOIN customers c ON c.id = i.customer_id
           WHERE i.status = 'open' AND NOT c.deleted AND c.email IS NOT NULL
             AND EXISTS (SELECT 1 FROM payment_attempts p WHERE p.invoice_id = i.id AND p.status = 'failed')
           ORDER BY 1""",
    )[0][0]


def portal_session(sandbox, session_id: str) -> dict:
    """The session as the sandbox recorded it (what Stripe would have made of the request)."""
    return next(
        s.session for s in list(sandbox.server.portal.sessions.values()) if s.session["id"] == session_id
    )
