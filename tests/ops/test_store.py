"""The ops store's two backends: the OPS_DB setting, one set of statements, numbered migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from console import ops
from console.ops import audit
from console.ops.store import MIGRATIONS, OpsStore, OpsStoreUnavailable, _postgresql_sql, migrations
from settings import PostgresUrl, SettingsError, load_settings

SECRET = "s3cret-Pa55"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://console:{SECRET}@db.internal:5432/billing_ops?sslmode=verify-full",
        f"postgres://db.internal/billing_ops?password={SECRET}",
        "postgresql://console@db.internal/billing_ops",
    ],
)
def test_a_postgresql_url_is_accepted_and_its_password_never_shown(url):
    settings = load_settings({"OPS_DB": url}, {})
    assert isinstance(settings.ops_db, PostgresUrl)
    assert settings.ops_db.secret_url() == url
    for shown in (repr(settings), str(settings.ops_db), repr(OpsStore(settings.ops_db))):
        assert SECRET not in shown
        assert "db.internal" in shown


def test_the_url_may_come_from_the_secrets_file():
    settings = load_settings({}, {"OPS_DB": f"postgresql://console:{SECRET}@db/ops"})
    assert settings.ops_db.redacted == "postgresql://console:***@db/ops"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"mysql://console:{SECRET}@db/ops", "neither a file path nor a postgresql:// URL"),
        (f"sqlite://{SECRET}", "neither a file path nor a postgresql:// URL"),
        (f"postgresql://console:{SECRET}@db:port/ops", "not a well-formed postgresql:// URL"),
        (f"postgresql://console:{SECRET}@db", "names no database"),
    ],
)
def test_anything_else_is_a_settings_error_that_does_not_quote_it(value, problem):
    with pytest.raises(SettingsError, match=problem) as refused:
        load_settings({"OPS_DB": value}, {})
    assert SECRET not in str(refused.value) and "OPS_DB" in str(refused.value)


def test_a_path_stays_a_sqlite_file():
    assert load_settings({"OPS_DB": "data/ops.sqlite3"}, {}).ops_db.name == "ops.sqlite3"


def test_placeholders_become_psycopg_ones_outside_quoted_text():
    assert (
        _postgresql_sql("SELECT ? WHERE a LIKE 'x?%' AND b = ?") == "SELECT %s WHERE a LIKE 'x?%%' AND b = %s"
    )


def test_both_backends_have_the_same_migrations():
    assert [m.version for m in migrations("sqlite")] == [m.version for m in migrations("postgresql")]
    assert [m.name for m in migrations("sqlite")] == [m.name for m in migrations("postgresql")]


@pytest.mark.usefixtures("ops_backend")
def test_a_new_store_records_its_version_and_rows_read_by_name_or_position():
    store = ops.store_for(load_settings().ops_db)
    assert store.schema_version() == len(migrations(store.dialect))
    audit.record(store, audit.AuditEntry("sam", "support", "cus_1", "portal", "copy", "created"))
    with store.connect() as conn:
        row = conn.execute("SELECT id, agent FROM audit_log WHERE agent = ?", ("sam",)).fetchone()
        versions = conn.execute("SELECT version, name FROM schema_version").fetchall()
    assert (row[1], row["agent"], dict(row)["agent"]) == ("sam", "sam", "sam")
    assert [tuple(v) for v in versions] == [(m.version, m.name) for m in migrations(store.dialect)]


def test_a_store_made_by_the_old_schema_file_is_taken_as_version_1_and_upgraded(tmp_path: Path):
    """Stores made before numbered migrations: the tables of schema.sql (migration 1), no version.
    They are taken as version 1 and get the later migrations (the work queue's tables)."""
    path = tmp_path / "ops.sqlite3"
    legacy = sqlite3.connect(path)
    legacy.executescript((MIGRATIONS / "0001_initial.sqlite.sql").read_text())
    legacy.execute(
        "INSERT INTO audit_log (at, agent, role, customer_id, flow, delivery, outcome) "
        "VALUES ('2026-01-02T03:04:05Z', 'sam', 'support', 'cus_1', 'portal', 'copy', 'created')"
    )
    legacy.commit()
    legacy.close()
    store = OpsStore(path)
    assert store.schema_version() == len(migrations("sqlite")) > 1
    assert audit.browse(store)["agent"].tolist() == ["sam"]  # kept
    with store.connect() as conn:
        recorded = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert recorded == list(range(1, len(migrations("sqlite")) + 1))
        assert conn.execute("SELECT count(*) FROM work_items").fetchone()[0] == 0  # migration 2 ran


def test_a_store_newer_than_the_console_is_refused(tmp_path: Path):
    path = tmp_path / "ops.sqlite3"
    OpsStore(path).schema_version()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'from the future', '2030-01-01T00:00:00Z')")
    with pytest.raises(OpsStoreUnavailable, match="schema version 99, newer than this console"):
        OpsStore(path).schema_version()
