"""Secrets stay secret (issue 9).

The demo flows run with logging at DEBUG: a sync from the sandbox (in this process
and as `python -m sync`), staff sign-in through the form, `python -m console.users`,
portal links shown once, emailed over SMTP with a password and written to the outbox
folder, and a real console server with Streamlit's logger at debug, driven by a real
browser. Then the logs, captured output, the warehouse, the ops store, the outbox
folder and the server log are searched for the Stripe keys, the cookie key, the SMTP
password, staff passwords and portal session URLs. A portal URL may appear only inside
the one email that carries it to the customer.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.conftest import ARTIFACTS, ROOT, STAFF_PASSWORDS, free_port, notices
from tests.portal.conftest import PORTAL_KEY, READ_KEY, Collect, SmtpServer, dunning_customer
from tests.security.conftest import WAIT_MS, browser_sign_in, users_cli

SMTP_USER = "billing-mailer"
SMTP_PASSWORD = "smtp-" + secrets.token_urlsafe(18)


@pytest.fixture
def smtp_with_password():
    """An SMTP server on loopback that requires AUTH with SMTP_USER / SMTP_PASSWORD."""

    def check(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok)

    server = SmtpServer("127.0.0.1", free_port(), "none")
    controller = Controller(
        Collect(server), hostname=server.host, port=server.port,
        authenticator=check, auth_required=True, auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    yield server
    controller.stop()


def portal_tokens(sandbox) -> dict[str, str]:
    """{session url: its secret token} of every portal session the sandbox has made."""
    return {s.session["url"]: s.token for s in list(sandbox.server.portal.sessions.values())}


def leaks(text: str, secret_values: dict[str, str]) -> list[str]:
    return [label for label, value in secret_values.items() if value and value in text]


class Findings(list):
    """Every place a secret was found, gathered so that one run reports them all."""

    def check(self, where: str, text: str, secret_values: dict[str, str]) -> None:
        found = leaks(text, secret_values)
        if found:
            self.append(f"{where}: {', '.join(found)}")


def email_text(raw: bytes) -> str:
    message = message_from_bytes(raw, policy=policy.default)
    return "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")


def warehouse_text(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [
            row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        ]
        # Table names come from the catalog, not from input.
        return "\n".join(str(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)  # noqa: S608
    finally:
        con.close()


def ops_store_text(path: Path) -> tuple[str, list[bytes]]:
    """Every ops-store value as text, except the stored emails, returned apart."""
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        text = []
        for table in tables:
            cursor = con.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from the catalog)
            columns = [c[0] for c in cursor.description]
            for row in cursor:
                text += [
                    str(v) for c, v in zip(columns, row, strict=True) if (table, c) != ("outbox", "message")
                ]
        emails = [bytes(r[0]) for r in con.execute("SELECT message FROM outbox")]
        return "\n".join(text), emails
    finally:
        con.close()


def sign_in_through_the_form(app_as, username: str):
    at = app_as(None).run()
    at.text_input[0].input(username)
    at.text_input[1].input(STAFF_PASSWORDS[username])
    at.button[0].click()
    return at.run()


def open_customer(at, customer_id: str):
    at.query_params["id"] = customer_id
    at.switch_page("../pages/customer.py")
    return at.run()


def portal_button(at, customer_id: str, name: str):
    return at.button(key=f"portal_link_{customer_id}_{name}")


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # loopback test server
def test_demo_flows_leave_no_secret_behind(
    request,
    caplog,
    capfd,
    console_env,
    settings_with,
    portal_sandbox,
    smtp_with_password,
    browser,
    monkeypatch,
):
    caplog.set_level(logging.DEBUG)
    settings = settings_with(
        STRIPE_SYNC_API_KEY=READ_KEY,
        STRIPE_PORTAL_API_KEY=PORTAL_KEY,
        STRIPE_API_BASE=portal_sandbox.base_url,
        SMTP_USER=SMTP_USER,
        SMTP_PASSWORD=SMTP_PASSWORD,
        **smtp_with_password.env(),
    )
    portal_sandbox.set_portal_configured(True)
    secret_values = {
        "sync key": READ_KEY,
        "portal key": PORTAL_KEY,
        "sandbox secret key": portal_sandbox.api_key,
        "cookie key": console_env["COOKIE_KEY"],
        "SMTP password": SMTP_PASSWORD,
        **{f"password of {name}": password for name, password in STAFF_PASSWORDS.items()},
        "new staff password": "new-staff-password-77",
    }
    urls_before = set(portal_tokens(portal_sandbox))
    outputs: dict[str, str] = {}

    # The sync: in this process at DEBUG, then as the scheduled command.
    import sync

    sync.run(settings.billing_db, api_key=READ_KEY, api_base=portal_sandbox.base_url)
    command = subprocess.run(
        [sys.executable, "-m", "sync"],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert command.returncode == 0, command.stderr[-2000:]
    outputs["python -m sync"] = command.stdout + command.stderr

    added = users_cli(
        "add", "newbie", "--role", "support", "--password-stdin", stdin="new-staff-password-77\n"
    )
    assert added.returncode == 0, added.stderr
    outputs["python -m console.users"] = added.stdout + added.stderr

    # Portal links from the customer page: shown once, emailed over SMTP, written to the outbox folder.
    customer_id = dunning_customer(settings)
    at = open_customer(sign_in_through_the_form(request.getfixturevalue("app_as"), "sam"), customer_id)
    portal_button(at, customer_id, "copy").click().run()
    [shown_url] = [c.value for c in at.code if c.value.startswith("http")]
    portal_button(at, customer_id, "done_again").click().run()
    portal_button(at, customer_id, "email").click().run()
    assert notices(at, "success") and len(smtp_with_password.received) == 1
    portal_button(at, customer_id, "done_again").click().run()
    monkeypatch.delenv("SMTP_HOST")
    portal_button(at, customer_id, "email").click().run()
    assert notices(at, "success")
    outbox_files = sorted(Path(console_env["OUTBOX_DIR"]).rglob("*"))
    assert [p for p in outbox_files if p.is_file()], "the outbox folder got no message"

    # A real console server, Streamlit logging at debug; a real browser makes one more link.
    monkeypatch.setenv("SMTP_HOST", smtp_with_password.host)
    console_env["STREAMLIT_LOGGER_LEVEL"] = "debug"
    url = request.getfixturevalue("console_server")
    page = browser.new_page()
    browser_sign_in(page, url, "ada")
    page.goto(f"{url}/customer?id={customer_id}")
    page.get_by_role("button", name="Copy link").click()
    page.get_by_text("Shown once").first.wait_for(timeout=WAIT_MS)
    server_log = ARTIFACTS / f"console-{url.rsplit(':', 1)[1]}.log"
    outputs["console server log"] = server_log.read_text()

    tokens = {u: t for u, t in portal_tokens(portal_sandbox).items() if u not in urls_before}
    assert len(tokens) == 4  # copy, SMTP email, outbox email, browser copy
    assert shown_url in tokens
    url_tokens = {f"portal URL {u}": t for u, t in tokens.items()}
    everything = {**secret_values, **url_tokens}

    captured = capfd.readouterr()
    # aiosmtpd's own log ("mail.log") is the customer's mail server receiving the email: not ours.
    outputs["logs at DEBUG"] = "\n".join(
        f"{r.name} {r.getMessage()}" for r in caplog.records if not r.name.startswith("mail.log")
    )
    outputs["this process's stdout/stderr"] = captured.out + captured.err
    assert "billing_portal/sessions" in outputs["logs at DEBUG"]  # the console's Stripe calls were captured
    problems = Findings()
    for where, text in outputs.items():
        problems.check(where, text, everything)
    problems.check("warehouse", warehouse_text(settings.billing_db), everything)
    problems.check("warehouse file", settings.billing_db.read_bytes().decode("latin-1"), everything)
    ops_text, stored_emails = ops_store_text(settings.ops_db)
    problems.check("ops store", ops_text, everything)
    raw_ops = b"".join(p.read_bytes() for p in settings.ops_db.parent.glob(settings.ops_db.name + "*"))
    problems.check(
        "ops store files", raw_ops.decode("latin-1"), secret_values | {"shown URL": tokens[shown_url]}
    )

    # Each email carries exactly one portal URL, its own, and no secret.
    emails = stored_emails + [r.data for r in smtp_with_password.received]
    emails += [p.read_bytes() for p in outbox_files if p.is_file()]
    carried = set()
    for raw in emails:
        body = email_text(raw)
        problems.check("an email", body, secret_values)
        found = [u for u, t in tokens.items() if t in body]
        if len(found) != 1:
            problems.append(f"an email carries {len(found)} portal URLs")
        carried.update(found)
    assert not problems, "secrets found:\n" + "\n".join(problems)
    assert shown_url not in carried  # the copied link was never emailed
    assert len(carried) == 2
