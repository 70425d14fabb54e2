"""Incremental runs on the edges the change generator builds on purpose: an older event
listed after a newer one, two changes of one subscription in one second (with a run between
them or not), customer deletions kept through a full backfill, and a customer found deleted
when an event in an older API version makes the sync re-fetch it."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.changes import Session
from sandbox.store import AccountWriter
from sandbox.testing import SandboxHandle, running_sandbox
from tests.sync.account_check import assert_matches_account, query
from tests.sync.test_sync_sandbox import run, served

CUSTOMER_COLUMNS = "id, email, name, description, currency, delinquent, deleted, metadata"


@pytest.fixture
def own_sandbox(own_account: Path) -> Iterator[SandboxHandle]:
    with running_sandbox(own_account) as handle:
        yield handle


def account(handle: SandboxHandle) -> sqlite3.Connection:
    """The served account's SQLite file (the server's own working copy)."""
    return sqlite3.connect(handle.server.db_path)


def test_newest_event_wins_over_an_older_one_listed_after_it(
    own_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    db = tmp_path / "billing.duckdb"
    run(own_sandbox, db)
    own_sandbox.apply_changes(12, seed=5)
    with account(own_sandbox) as sandbox_db:
        # Delivery order is insertion order (rowid): find the update delivered late.
        late = sandbox_db.execute(
            """
            SELECT json_extract(older.body, '$.data.object.id'), json_extract(older.body, '$.data.object'),
                   json_extract(newer.body, '$.data.object')
            FROM events older JOIN events newer
              ON json_extract(older.body, '$.data.object.id') = json_extract(newer.body, '$.data.object.id')
            WHERE older.type = 'customer.updated' AND newer.type = 'customer.updated'
              AND older.rowid > newer.rowid AND older.created < newer.created
            """
        ).fetchall()
    assert late, "the change set holds no late delivery"
    customer_id, older, newer = late[0]
    older, newer = json.loads(older), json.loads(newer)
    assert (older["email"], older["name"]) != (newer["email"], newer["name"])  # picking wrong shows

    summary = run(own_sandbox, db)
    assert summary.mode == "incremental"
    assert query(db, "SELECT email, name FROM customers WHERE id = ?", customer_id) == [
        (newer["email"], newer["name"])
    ]
    assert_matches_account(db, served(own_sandbox))


@pytest.mark.parametrize("between", ["a run", "no run"])
def test_a_renewal_failed_in_the_second_of_a_paid_one_shows(
    own_sandbox: SandboxHandle, tmp_path: Path, between: str
) -> None:
    """A subscription renews and is paid at second `now`; then a dunning retry that finds no
    invoice open fails a renewal of it first, "just before" its attempt, in that same second.
    Its newest event must carry past_due, or the sync keeps it active."""
    db = tmp_path / "billing.duckdb"
    run(own_sandbox, db)
    now = int(time.time())
    active = "SELECT id FROM subscriptions WHERE status = 'active' ORDER BY created, id LIMIT 1"
    with account(own_sandbox) as sandbox_db:
        (sub_id,) = sandbox_db.execute(active).fetchone()
        session = Session(sandbox_db, random.Random(1))
        assert session.renewal(now, fails=False, sub_id=sub_id)
        if between == "a run":
            session.save()
            run(own_sandbox, db)
            assert query(db, "SELECT status FROM subscriptions WHERE id = ?", sub_id) == [("active",)]
            session = Session(sandbox_db, random.Random(2))
        assert session.failed_renewal(now, sub_id)
        session.save()
        (status,) = sandbox_db.execute("SELECT status FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
    assert status == "past_due"

    summary = run(own_sandbox, db)
    assert summary.mode == "incremental"
    assert query(db, "SELECT status FROM subscriptions WHERE id = ?", sub_id) == [("past_due",)]
    assert_matches_account(db, served(own_sandbox))


def test_full_backfill_keeps_customers_deleted_since_the_last_run(
    own_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    db = tmp_path / "billing.duckdb"
    run(own_sandbox, db)
    changes = own_sandbox.apply_changes(6, seed=3)
    assert changes["changes"].get("deletion", 0) >= 1  # every change set deletes someone
    run(own_sandbox, db)
    deleted_rows = f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE deleted ORDER BY id"  # noqa: S608
    deleted = query(db, deleted_rows)
    # The one this run deleted has its last full state (a name), not only the id.
    assert any(row[2] is not None for row in deleted)

    summary = run(own_sandbox, db, full=True)
    assert summary.mode == "full"
    # Stripe no longer lists them; metrics still count them: kept as they were, marked deleted.
    ids = [row[0] for row in deleted]
    marks = ", ".join("?" * len(ids))
    after = query(db, f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id IN ({marks}) ORDER BY id", *ids)  # noqa: S608
    assert after == deleted


@pytest.mark.parametrize("answer", ["deleted stub", "404"])
def test_refetched_customer_that_is_gone_is_marked_deleted(
    own_sandbox: SandboxHandle, tmp_path: Path, answer: str
) -> None:
    db = tmp_path / "billing.duckdb"
    run(own_sandbox, db)
    with account(own_sandbox) as sandbox_db:
        customer_id, body = sandbox_db.execute(
            "SELECT id, body FROM customers WHERE deleted = 0 ORDER BY created DESC LIMIT 1"
        ).fetchone()
        # An event rendered in the account's older default API version: its payload cannot
        # be used as it is, so the sync re-fetches the customer...
        event = {
            "id": "evt_9999999OlderApiVersion0",
            "object": "event",
            "api_version": "2020-08-27",
            "created": int(time.time()),
            "data": {"object": json.loads(body)},
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "type": "customer.updated",
        }
        writer = AccountWriter(sandbox_db)
        writer.add("events", event)
        writer.flush()
        # ...and finds it deleted meanwhile, its own event not listed yet (or gone for good).
        if answer == "404":
            sandbox_db.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
        else:
            sandbox_db.execute("UPDATE customers SET deleted = 1 WHERE id = ?", (customer_id,))
    before = query(db, f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?", customer_id)  # noqa: S608
    assert before[0][6] is False

    requests_before = len(own_sandbox.requests)
    summary = run(own_sandbox, db)
    assert summary.mode == "incremental"
    fetched = [r.path for r in list(own_sandbox.requests)[requests_before:]]
    assert f"/v1/customers/{customer_id}" in fetched  # the re-fetch path, not the event's payload
    after = query(db, f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?", customer_id)  # noqa: S608
    assert after == [(*before[0][:6], True, before[0][7])]  # kept, marked deleted
