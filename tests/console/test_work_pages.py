"""Dunning queue, invoices, sync status and the freshness banner on every data page."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from console import ops
from console.warehouse.invoices import InvoiceFilter, list_invoices
from tests.console import warehouse_fixture as fx

DATA_PAGES = [("support", "customers"), ("support", "dunning_queue"), ("finance", "invoices"),
              ("admin", "sync_status"), ("support", "customer")]  # fmt: skip


def record_link(ops_db: Path, customer_id: str, at: str, outcome: str = "emailed") -> None:
    with ops.store_for(ops_db).connect() as conn:
        conn.execute(
            "INSERT INTO audit_log (at, agent, role, customer_id, flow, delivery, outcome) "
            "VALUES (?, 'sam', 'support', ?, 'payment_method_update', 'email', ?)",
            [at, customer_id, outcome],
        )


def ops_time(minutes_ago: float) -> str:
    return (fx.utc_now() - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- dunning queue ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["support", "admin"])
def test_queue_holds_invoices_in_dunning_ordered_by_amount_at_risk_per_currency(warehouse, open_page, role):
    at = open_page(role, "dunning_queue")
    assert not at.exception
    summary, queue = at.dataframe[0].value, at.dataframe[1].value
    assert summary["Currency"].tolist() == ["USD", "EUR", "JPY"]
    assert summary["At risk"].tolist() == ["$300.00", "€108.00", "¥1,200"]
    assert queue["Customer id"].tolist() == [fx.ZOE, fx.TANAKA, fx.BIGRISK, fx.JOSE]
    usd = queue[queue["Currency"] == "USD"]
    assert usd["At risk"].tolist() == ["$250.00", "$50.00"]  # biggest first
    jose = queue[queue["Customer id"] == fx.JOSE].iloc[0]
    assert (jose["Attempts"], jose["Failed attempts"], jose["Last decline"]) == (2, 2, "do_not_honor")
    assert jose["Days in dunning"] == 10
    assert queue["Customer"].tolist() == ["Zoë Müller", "Tanaka Hiroshi", "Big Risk Corp", "José Álvarez"]
    assert jose["Next retry"].endswith(" UTC") and jose["Work state"] == "new"
    cards = queue.set_index("Customer id")["Card expiry"]
    assert cards[fx.TANAKA] == "01/24 (expired)" and cards[fx.ZOE] == "—"
    assert cards[fx.JOSE].endswith("(before renewal)")  # the subscription's own card
    assert fx.QUIET not in queue["Customer id"].tolist()  # open, never attempted: not in dunning


def test_queue_currency_choice(warehouse, open_page):
    at = open_page("support", "dunning_queue")
    at.get("segmented_control")[2].set_value("usd").run()
    assert at.dataframe[1].value["Customer id"].tolist() == [fx.BIGRISK, fx.JOSE]


def test_queue_says_when_a_card_update_link_was_sent_for_this_dunning(warehouse, open_page, console_env):
    ops_db = Path(console_env["OPS_DB"])
    record_link(ops_db, fx.JOSE, ops_time(60))  # after José's first failure
    record_link(ops_db, fx.BIGRISK, ops_time(60 * 24 * 30))  # a month ago: before this dunning
    record_link(ops_db, fx.ZOE, ops_time(60), outcome="failed")  # never reached the customer
    record_link(ops_db, fx.TANAKA, ops_time(30), outcome="written")  # demo outbox folder: sent
    at = open_page("support", "dunning_queue")
    queue = at.dataframe[1].value.set_index("Customer id")
    sent = queue["Card-update link sent"]
    assert sent[fx.JOSE].endswith(" UTC") and sent[fx.TANAKA].endswith(" UTC")
    assert sent[fx.BIGRISK] == "—" and sent[fx.ZOE] == "—"


def test_queue_row_opens_the_customer(warehouse, open_page):
    at = open_page("support", "dunning_queue")
    at.session_state["open_customer"] = fx.BIGRISK  # what the row-selection callback records
    at.run()
    assert at.query_params == {"id": fx.BIGRISK}
    assert "Big Risk Corp" in [t.value for t in at.main.text]


# --- invoices -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_invoices_page_lists_and_filters(warehouse, open_page, role):
    at = open_page(role, "invoices")
    assert not at.exception
    assert len(at.dataframe[1].value) == 7
    assert at.dataframe[0].value.set_index("Currency")["Invoices"].to_dict() == {"USD": 5, "EUR": 1, "JPY": 1}
    at.multiselect[0].select("open").run()
    assert len(at.dataframe[1].value) == 5
    at.selectbox[0].select("usd").run()
    at.number_input[0].set_value(100.0).run()
    assert sorted(at.dataframe[1].value["Invoice id"]) == [fx.BIGRISK_OPEN_INVOICE, fx.QUIET_OPEN_INVOICE]
    assert at.get("download_button")


def test_invoice_amount_filter_uses_the_currency_exponent(warehouse, console_env):
    from decimal import Decimal

    with duckdb.connect(console_env["BILLING_DB"], read_only=True) as con:
        page = list_invoices(con, InvoiceFilter(currency="jpy", amount_min=Decimal(1200)))
        assert page.rows["Amount due"].tolist() == ["¥1,200"]
        assert page.rows["amount_due_minor"].tolist() == [1200]
        assert list_invoices(con, InvoiceFilter(currency="usd", amount_max=Decimal("20.00"))).total == 1


def test_invoice_date_filter_is_in_utc_days(warehouse, console_env):
    today = fx.utc_now().date()
    with duckdb.connect(console_env["BILLING_DB"], read_only=True) as con:
        recent = list_invoices(con, InvoiceFilter(created_from=today - timedelta(days=2), created_to=today))
        assert sorted(recent.rows["Invoice id"]) == sorted(
            ["in_TanakaOpen1", fx.BIGRISK_OPEN_INVOICE, fx.QUIET_OPEN_INVOICE]
        )


# --- sync status ------------------------------------------------------------------------------


def test_sync_status_shows_runs_errors_and_counts(warehouse, open_page):
    at = open_page("admin", "sync_status")
    assert not at.exception
    runs, counts = at.dataframe[0].value, at.dataframe[1].value
    assert runs["Status"].tolist() == ["succeeded", "failed"]
    assert runs["Error"].tolist() == ["", "Stripe answered 401: invalid API key"]
    assert counts.set_index("Table")["Rows"].to_dict()["customers"] == 8
    assert any(t.value.startswith("Data synced 5 minutes ago") for t in at.main.text)


# --- freshness ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "page"), DATA_PAGES)
def test_every_data_page_says_how_fresh_the_data_is(warehouse, open_page, role, page):
    at = open_page(role, page, **({"id": fx.JOSE} if page == "customer" else {}))
    assert not at.exception and not at.warning
    assert any(c.value.startswith("Data synced 5 minutes ago (2") for c in at.main.caption)


@pytest.mark.parametrize(("role", "page"), DATA_PAGES)
def test_old_data_is_warned_about(console_env, open_page, role, page):
    fx.build_warehouse(Path(console_env["BILLING_DB"]), synced_minutes_ago=180)
    at = open_page(role, page, **({"id": fx.JOSE} if page == "customer" else {}))
    assert not at.exception
    assert at.warning[0].value.startswith("Data synced 3 hours ago")
    assert "older than 60 minutes" in at.warning[0].value


@pytest.mark.parametrize(("role", "page"), DATA_PAGES)
def test_no_warehouse_gives_guidance_and_stops(console_env, open_page, role, page):
    at = open_page(role, page)
    assert not at.exception and not at.dataframe and not at.text_input
    assert "python -m sync" in at.info[0].value


def test_unreadable_warehouse_is_explained(console_env, open_page):
    Path(console_env["BILLING_DB"]).write_bytes(b"not a duckdb file" * 100)
    at = open_page("support", "customers")
    assert not at.exception and not at.text_input
    assert "cannot be read" in at.error[0].value
    assert "python -m sync --full" in at.error[0].value  # a plain rerun cannot fix it


def test_a_new_snapshot_is_read_after_publication(console_env, open_page):
    live = Path(console_env["BILLING_DB"])
    fx.build_warehouse(live)
    at = open_page("support", "customers")
    assert len(at.dataframe[0].value) == 8
    # The sync publishes by renaming a finished file onto the live path.
    nxt = fx.build_warehouse(live.with_name("next.duckdb"))
    with duckdb.connect(str(nxt)) as con:
        con.execute(
            "INSERT INTO customers (id, email, name) VALUES ('cus_New1', 'new@example.com', 'Newcomer')"
        )
    os.replace(nxt, live)
    at.run()
    assert "cus_New1" in at.dataframe[0].value["Customer id"].tolist()
