"""Snapshot publication, the run lock and derived tables, on real DuckDB files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sync import transform
from sync.publish import Busy, Snapshot, Writer, exclusive


def _publish(db: Path, objects: list[dict], *, fresh: bool = False) -> None:
    snapshot = Snapshot(db, fresh=fresh)
    writer = Writer(snapshot)
    writer.add(transform.rows(objects))
    writer.finish()
    snapshot.publish()


def test_second_lock_fails_at_once(tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    with exclusive(db), pytest.raises(Busy, match="already running"), exclusive(db):
        pass
    with exclusive(db):  # released afterwards
        pass


def test_reader_keeps_the_previous_state_until_it_reopens(tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    _publish(db, [{"id": "cus_1", "object": "customer", "email": "a@example.com"}])
    reader = duckdb.connect(str(db), read_only=True)
    _publish(db, [{"id": "cus_2", "object": "customer", "email": "b@example.com"}])
    assert reader.execute("SELECT count(*) FROM customers").fetchone() == (1,)
    reader.close()
    with duckdb.connect(str(db), read_only=True) as fresh:
        assert fresh.execute("SELECT count(*) FROM customers").fetchone() == (2,)
    assert not (tmp_path / "billing.duckdb.next").exists()


def test_discarded_snapshot_leaves_live_file_alone(tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    _publish(db, [{"id": "cus_1", "object": "customer"}])
    snapshot = Snapshot(db, fresh=False)
    Writer(snapshot).add(transform.rows([{"id": "cus_2", "object": "customer"}]))
    snapshot.discard()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT id FROM customers").fetchall() == [("cus_1",)]


def test_payment_attempts_follow_every_kind_of_link(tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    objects = [
        # current API: invoice_payment -> payment intent -> charges
        {"id": "in_new", "object": "invoice", "customer": "cus_1", "currency": "usd"},
        {
            "id": "inpay_1",
            "object": "invoice_payment",
            "invoice": "in_new",
            "payment": {"type": "payment_intent", "payment_intent": "pi_new"},
        },
        {"id": "ch_a", "object": "charge", "payment_intent": "pi_new", "status": "failed"},
        {"id": "ch_b", "object": "charge", "payment_intent": "pi_new", "status": "succeeded"},
        # older shapes: invoice.payment_intent, and charge.invoice
        {
            "id": "in_old",
            "object": "invoice",
            "customer": "cus_1",
            "currency": "usd",
            "payment_intent": "pi_old",
        },
        {"id": "ch_c", "object": "charge", "payment_intent": "pi_old", "status": "failed"},
        {"id": "ch_d", "object": "charge", "invoice": "in_old", "status": "failed"},
        # not an invoice payment at all
        {"id": "ch_e", "object": "charge", "payment_intent": "pi_other", "status": "succeeded"},
    ]
    _publish(db, objects)
    with duckdb.connect(str(db), read_only=True) as con:
        attempts = con.execute("SELECT id, invoice_id FROM payment_attempts ORDER BY id").fetchall()
    assert attempts == [("ch_a", "in_new"), ("ch_b", "in_new"), ("ch_c", "in_old"), ("ch_d", "in_old")]


def test_customers_that_lists_no_longer_return_are_kept_as_deleted(tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    objects = [
        {"id": "in_1", "object": "invoice", "customer": "cus_gone", "currency": "usd",
         "customer_email": "old@example.com", "created": 1},
        {"id": "in_2", "object": "invoice", "customer": "cus_gone", "currency": "usd",
         "customer_email": "new@example.com", "created": 2},
    ]  # fmt: skip
    _publish(db, objects)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT id, email, deleted FROM customers").fetchall() == [
            ("cus_gone", "new@example.com", True)
        ]


def test_items_removed_from_a_subscription_disappear(tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"

    def sub(*item_ids: str) -> dict:
        items = [{"id": i, "object": "subscription_item", "price": "price_1"} for i in item_ids]
        return {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
                "items": {"data": items, "has_more": False}}  # fmt: skip

    _publish(db, [sub("si_1", "si_2")])
    _publish(db, [sub("si_2")])
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT id FROM subscription_items").fetchall() == [("si_2",)]
