"""The ops store on PostgreSQL: the console's role, an unreachable or lost server, passwords
never shown, and the copy of a SQLite store."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from console import ops
from console.ops import audit, link_requests, login_throttle, outbox, sessions
from console.ops import store as ops_store
from console.ops.store import (
    IntegrityError,
    OpsStore,
    OpsStoreUnavailable,
    OpsStoreUnreachable,
    migrations,
    now_text,
)
from settings import ROOT, load_settings
from tests.conftest import PASSWORD_ROLE, PostgresCluster, free_port

ROLES_SQL = (ROOT / "console" / "ops" / "roles.postgresql.sql").read_text()
LIMITS = login_throttle.LoginLimits(3, timedelta(minutes=15), timedelta(minutes=10))
SECRET = "pa55-never-shown"


def command(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def one_line_error(done: subprocess.CompletedProcess, exit_code: int) -> str:
    assert done.returncode == exit_code, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert SECRET not in done.stderr + done.stdout
    return done.stderr


@pytest.fixture
def roles(postgresql_cluster: PostgresCluster) -> str:
    """The README's two roles, once per cluster (roles are the cluster's, not a database's)."""
    with postgresql_cluster.admin() as conn:
        for role in ("billing_ops_owner", "billing_console"):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"CREATE ROLE {role} LOGIN")
    return "billing_console"


def test_the_readme_shows_the_role_setup_that_is_tested():
    assert ROLES_SQL.strip() in (ROOT / "README.md").read_text()


def test_the_console_role_may_only_insert_and_read_the_audit_log(postgresql_cluster, roles, monkeypatch):
    database = postgresql_cluster.create_database(owner="billing_ops_owner")
    owner = OpsStore(
        load_settings({"OPS_DB": postgresql_cluster.url(database, "billing_ops_owner")}, {}).ops_db
    )
    console = OpsStore(
        load_settings({"OPS_DB": postgresql_cluster.url(database, "billing_console")}, {}).ops_db
    )
    try:
        assert owner.schema_version() == len(migrations("postgresql"))  # `ops_migrate upgrade`, as the owner
        with postgresql_cluster.admin(database) as conn:
            conn.execute(ROLES_SQL)
            conn.execute(ROLES_SQL)  # safe to run again
        # The console's role starts on the current schema and does its work.
        audit.record(console, audit.AuditEntry("sam", "support", "cus_1", "portal", "copy", "created"))
        assert login_throttle.reserve_attempt(console, "sam", "10.0.0.1", LIMITS).allowed
        assert not link_requests.reserve(console, "k1", "sam", "cus_1", per_hour=5).refused
        message_id = outbox.record(
            console, request_key="k1", customer_id="cus_1", sender="b@example.com",
            recipient="d@example.com", subject="s", message=b"m",
        )  # fmt: skip
        assert outbox.claim(console, message_id)
        sessions.record_session(console, "sam", time.time() + 60)
        assert sessions.revoke_sessions(console, "sam") == 1
        # ...but may not change or remove audit rows: refused by privileges, before any trigger.
        for change in (
            "UPDATE audit_log SET outcome = 'refused'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "DELETE FROM work_log",
            "UPDATE work_log SET note = ''",
        ):
            with console.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(change)
            with console.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DROP TRIGGER audit_log_no_change ON audit_log")
        # The owner may, by privileges; the trigger refuses it.
        with owner.connect() as conn, pytest.raises(IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log")
        assert audit.browse(console)["outcome"].tolist() == ["created"]
    finally:
        owner.close()
        console.close()
        postgresql_cluster.drop_database(database)


def test_a_console_role_that_may_not_migrate_is_told_to_run_the_upgrade(postgresql_cluster, roles):
    database = postgresql_cluster.create_database(owner="billing_ops_owner")
    with postgresql_cluster.admin(database) as conn:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    try:
        url = postgresql_cluster.url(database, "billing_console")
        done = command("console.users", "unlock", "sam", OPS_DB=url)
        assert "needs a schema upgrade" in one_line_error(done, 1) and "permission denied" in done.stderr
        assert "python -m console.ops_migrate upgrade" in done.stderr
    finally:
        postgresql_cluster.drop_database(database)


def test_an_unreachable_server_at_start_is_one_line_and_exit_2(tmp_path):
    url = f"postgresql://console:{SECRET}@127.0.0.1:{free_port()}/billing_ops"
    done = command("console.users", "unlock", "sam", OPS_DB=url)
    error = one_line_error(done, 2)
    assert "the ops store postgresql://console:***@127.0.0.1" in error and "cannot be reached" in error


def test_a_wrong_password_is_one_line_exit_2_and_never_shown(postgresql_cluster, caplog):
    with postgresql_cluster.admin() as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,)).fetchone():
            conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD 'the-right-one'")
    url = postgresql_cluster.url("postgres", PASSWORD_ROLE, SECRET)
    done = command("console.users", "unlock", "sam", OPS_DB=url)
    assert "password authentication failed" in one_line_error(done, 2)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(OpsStoreUnreachable) as refused:
        OpsStore(load_settings({"OPS_DB": url}, {}).ops_db).schema_version()
    assert SECRET not in str(refused.value) and SECRET not in caplog.text


@pytest.mark.usefixtures("ops_backend")
@pytest.mark.parametrize("ops_backend", ["postgresql"], indirect=True)
def test_a_connection_lost_mid_transaction_writes_nothing(postgresql_cluster):
    store = ops.store_for(load_settings().ops_db)
    insert = "INSERT INTO login_failures (at, username, client) VALUES (?, 'sam', '10.0.0.1')"
    with pytest.raises(OpsStoreUnavailable, match="cannot be used") as lost, store.transaction() as conn:
        conn.execute(insert, (now_text(),))
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        with postgresql_cluster.admin() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        conn.execute(insert, (now_text(),))
    assert "\n" not in str(lost.value)
    with store.connect() as conn:  # the pool replaced the dead connection
        assert conn.execute("SELECT count(*) FROM login_failures").fetchone()[0] == 0


@pytest.mark.parametrize("ops_backend", ["postgresql"], indirect=True)
def test_a_server_lost_while_running_is_explained_on_the_page(
    ops_backend, app_as, postgresql_cluster, monkeypatch
):
    monkeypatch.setattr(ops_store, "POOL_TIMEOUT", 1)
    at = app_as("admin").run()
    assert at.session_state["staff"].username == "ada"
    database = str(load_settings().ops_db).rsplit("/", 1)[1]
    postgresql_cluster.drop_database(database)  # every connection ends; no new one is possible
    at.run()
    assert not at.exception
    assert "ops store is unavailable" in at.error[0].value
    assert not [b for b in at.sidebar.button if b.label == "Sign out"]  # the app stopped there


def populate(store: OpsStore) -> None:
    """A little of everything the console writes."""
    audit.record(store, audit.AuditEntry("sam", "support", "cus_1", "portal", "email", "emailed"))
    audit.record(store, audit.AuditEntry("ada", "admin", "cus_2", "portal", "copy", "refused", error="x"))
    link_requests.reserve(store, "k1", "sam", "cus_1", per_hour=5)
    link_requests.record_session(store, "k1", "bps_1")
    message_id = outbox.record(
        store, request_key="k1", customer_id="cus_1", sender="b@example.com",
        recipient="d@example.com", subject="Your billing", message=b"\x00binary\xffbody",
    )  # fmt: skip
    outbox.claim(store, message_id)
    outbox.mark_uncertain(store, message_id, "the answer was lost")
    login_throttle.reserve_attempt(store, "sam", "10.0.0.1", LIMITS)
    sessions.record_session(store, "sam", time.time() + 600)


def everything(store: OpsStore) -> dict[str, list[tuple]]:
    with store.connect() as conn:
        return {
            table: [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in conn.execute(
                f"SELECT * FROM {table} ORDER BY 1"  # noqa: S608
            )]
            for table in conn.table_names()
        }  # fmt: skip


def test_copy_moves_a_populated_sqlite_store_and_refuses_a_second_time(postgresql_cluster, tmp_path: Path):
    source = OpsStore(tmp_path / "ops.sqlite3")
    populate(source)
    database = postgresql_cluster.create_database()
    url = postgresql_cluster.url(database)
    target = OpsStore(load_settings({"OPS_DB": url}, {}).ops_db)
    try:
        done = command("console.ops_migrate", "copy", "--from", str(source.path), "--to", url)
        assert done.returncode == 0, done.stderr
        assert "copied 6 rows" in done.stdout and "audit_log 2" in done.stdout
        assert everything(target) == everything(source)
        # New rows continue after the copied ids, and the copy keeps the append-only rule.
        audit.record(target, audit.AuditEntry("sam", "support", "cus_3", "portal", "copy", "created"))
        assert audit.browse(target)["id"].tolist() == [3, 2, 1]
        with target.connect() as conn, pytest.raises(IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log")
        assert outbox.messages(target, "uncertain")["recipient"].tolist() == ["d@example.com"]

        again = command("console.ops_migrate", "copy", "--from", str(source.path), "--to", url)
        assert "already holds rows" in one_line_error(again, 1)
        assert len(audit.browse(target)) == 3  # nothing added
    finally:
        target.close()
        postgresql_cluster.drop_database(database)


def test_copy_refuses_what_is_not_a_sqlite_store_or_a_postgresql_url(tmp_path: Path):
    missing = command(
        "console.ops_migrate", "copy", "--from", str(tmp_path / "none"), "--to", "postgresql://h/db"
    )
    assert "--from" in one_line_error(missing, 2)
    (tmp_path / "ops.sqlite3").touch()
    sqlite_target = command(
        "console.ops_migrate", "copy", "--from", str(tmp_path / "ops.sqlite3"), "--to", str(tmp_path / "x")
    )
    assert "--to" in one_line_error(sqlite_target, 2)
