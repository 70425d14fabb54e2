"""The console's query functions on a snapshot connection, without Streamlit."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from console.ui import freshness
from console.warehouse import customers, dunning_queue, snapshots
from console.warehouse import sync_runs as sync_status
from console.warehouse.customers import SearchKind, parse_search
from tests.console import warehouse_fixture as fx


@pytest.fixture
def cur(warehouse):
    con = snapshots.open_snapshot(warehouse)
    cursor = snapshots.cursor(con)
    yield cursor
    cursor.close()
    con.close()


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("cus_ABC123", SearchKind.CUSTOMER_ID, "cus_ABC123"),
        ("sub_1Xy", SearchKind.SUBSCRIPTION_ID, "sub_1Xy"),
        ("in_1Xy", SearchKind.INVOICE_ID, "in_1Xy"),
        ("abcd1234-0001", SearchKind.INVOICE_NUMBER, "ABCD1234-0001"),
        ("cus_ABC 123", SearchKind.TEXT, "cus_ABC 123"),  # not an id: a space
        ("anne-marie", SearchKind.TEXT, "anne-marie"),
        ("jo\x00se\n", SearchKind.TEXT, "jose"),  # control characters dropped
        ("   ", SearchKind.ALL, ""),
    ],
)
def test_parse_search(text, kind, value):
    assert parse_search(text) == customers.SearchKey(kind, value)


def test_pages_of_results(cur):
    first = customers.search_customers(cur, "", page=1, page_size=3)
    assert (first.total, first.page_count, len(first.rows)) == (8, 3, 3)
    last = customers.search_customers(cur, "", page=3, page_size=3)
    assert last.rows["Customer id"].tolist() == [fx.JOSE, fx.DELETED]
    beyond = customers.search_customers(cur, "", page=9, page_size=3)
    assert beyond.page == 1 and beyond.rows["Customer id"].tolist() == first.rows["Customer id"].tolist()


def test_search_results_columns(cur):
    row = customers.search_customers(cur, fx.JOSE).rows.iloc[0]
    assert row["Subscriptions"] == "past_due" and row["In dunning"] and row["Delinquent"]
    assert row["Currency"] == "USD" and not row["Deleted"]


def test_snapshot_connection_cannot_write_the_warehouse(cur):
    with pytest.raises(duckdb.Error):
        cur.execute("DELETE FROM customers")
    assert cur.execute("SELECT count(*) FROM customers").fetchone()[0] == 8


def test_dunning_queue_rows(cur):
    queue = dunning_queue.dunning_queue(cur)
    assert queue["invoice_id"].tolist() == ["in_ZoeOpen1", "in_TanakaOpen1", fx.BIGRISK_OPEN_INVOICE,
                                            fx.JOSE_OPEN_INVOICE]  # fmt: skip
    assert dunning_queue.dunning_queue(cur, limit_per_currency=1)["currency"].tolist() == [
        "eur",
        "jpy",
        "usd",
    ]


def test_last_success_ignores_failed_runs(cur):
    age = fx.utc_now() - sync_status.last_success(cur)
    assert timedelta(minutes=4) < age < timedelta(minutes=6)  # the succeeded run, not the failed one
    runs = sync_status.recent_runs(cur)
    assert runs["Objects written"].tolist() == ["customers: 8, invoices: 7", ""]


def test_dashboard_links():
    url = customers.dashboard_url
    assert url("customers", "cus_1", True) == "https://dashboard.stripe.com/customers/cus_1"
    assert url("customers", "cus_1", False) == "https://dashboard.stripe.com/test/customers/cus_1"
    assert url("invoices", "in_1", False) == "https://dashboard.stripe.com/test/invoices/in_1"
    assert url("payments", "ch_1", True) == "https://dashboard.stripe.com/payments/ch_1"
    assert customers.livemode_of_key("rk_test_abc") is False
    assert customers.livemode_of_key("sk_live_abc") is True
    assert customers.livemode_of_key(None) is None


def test_only_https_and_loopback_links_are_links():
    assert customers.safe_link("javascript:alert(1)") is None
    assert customers.safe_link("http://invoice.example.org/i/x") is None
    assert customers.safe_link("http://127.0.0.1.evil.example/i/x") is None
    assert customers.safe_link("https://invoice.stripe.com/i/x") == "https://invoice.stripe.com/i/x"
    assert customers.safe_link("http://127.0.0.1:12111/i/in_1") == "http://127.0.0.1:12111/i/in_1"


@pytest.mark.parametrize(
    ("age", "text"),
    [(timedelta(seconds=30), "just now"), (timedelta(minutes=1), "1 minute ago"),
     (timedelta(minutes=12), "12 minutes ago"), (timedelta(minutes=119), "119 minutes ago"),
     (timedelta(hours=3, minutes=5), "3 hours ago"), (timedelta(days=3), "3 days ago")],
)  # fmt: skip
def test_age_text(age, text):
    assert freshness.age_text(age) == text


def test_freshness_sentence_and_threshold():
    now = datetime(2026, 11, 25, 17, 12)
    synced = datetime(2026, 11, 25, 17, 0)
    assert freshness.describe(synced, now) == "Data synced 12 minutes ago (2026-11-25 17:00 UTC)"
    assert not freshness.is_stale(synced, now, warn_minutes=12)
    assert freshness.is_stale(synced, now, warn_minutes=11)
