"""Every place that applies a shared business rule agrees with it, on the edge cases.

One test per rule (console/rules/): "in dunning", "link made" and MRR. Each compares
every place that shows the rule with the hand-worked expectation in edge_cases.py.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from console.links.context import link_context
from console.ops import audit
from console.ops.store import OpsStore
from console.rules.links import CARD_UPDATE_FLOW
from console.warehouse import churn, customers, dunning_outcomes, dunning_queue
from console.warehouse.snapshots import cursor, open_snapshot, reading
from settings import ROOT
from tests.rules import edge_cases


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, Path]:
    warehouse, ops_db = tmp_path / "billing.duckdb", tmp_path / "ops.sqlite3"
    edge_cases.build(warehouse, ops_db)
    return warehouse, ops_db


def test_in_dunning_is_the_same_everywhere(stores: tuple[Path, Path]) -> None:
    warehouse, _ = stores
    con = open_snapshot(warehouse)
    cur = cursor(con)

    queue = dunning_queue.dunning_queue(cur)
    assert set(queue["invoice_id"]) == edge_cases.EXPECTED_IN_DUNNING

    found = customers.search_customers(cur, "", dunning_only=True)
    assert set(found.rows["Customer id"]) == edge_cases.EXPECTED_CUSTOMERS_IN_DUNNING
    flags = customers.search_customers(cur, "cus_manual").rows
    assert not flags["In dunning"].any(), "a send_invoice invoice is never in dunning"

    for customer in ("cus_auto", "cus_manual", "cus_recovered", "cus_clean"):
        context = link_context(warehouse, customer)
        in_dunning = customer in edge_cases.EXPECTED_CUSTOMERS_IN_DUNNING
        assert (context.dunning_invoice is not None) is in_dunning, customer
        assert context.default_flow == ("payment_method_update" if in_dunning else "portal"), customer

    table = dunning_outcomes.dunning_table(cur)
    assert int(table["entered"].sum()) == len(edge_cases.EXPECTED_ENTERED_DUNNING)
    assert int(table["pending"].sum()) == len(edge_cases.EXPECTED_IN_DUNNING)
    report = subprocess.run(
        [sys.executable, "-m", "console.report", "dunning", "--db", str(warehouse)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    header, row = report.stdout.splitlines()
    assert dict(zip(header.split(","), row.split(","), strict=True))["entered"] == "2"
    cur.close()
    con.close()


def test_a_link_made_is_the_same_everywhere(stores: tuple[Path, Path]) -> None:
    warehouse, ops_db = stores
    store = OpsStore(ops_db)

    links = audit.links_made(store, flow=CARD_UPDATE_FLOW)
    assert set(links["customer_id"]) == edge_cases.EXPECTED_LINKED_CUSTOMERS

    with reading(warehouse) as con:
        recovered = dunning_outcomes.portal_recoveries(con, audit.links_made(store))
    assert set(recovered["invoice_id"]) == edge_cases.EXPECTED_PORTAL_RECOVERIES

    snapshot = open_snapshot(warehouse)
    queue = dunning_queue.dunning_queue(cursor(snapshot))
    snapshot.close()
    sent = dunning_queue.last_link_per_customer(links)
    shown = dunning_queue.queue_table(queue, sent, pd.Timestamp("2025-03-10").to_pydatetime())
    assert shown.loc[shown["Customer id"] == "cus_auto", "Card-update link sent"].item().endswith(" UTC")


def test_a_written_link_counts_against_the_hourly_limit(stripe_settings, settings_with) -> None:
    """The limit counts what the metrics count: demo-outbox (`written`) links included."""
    from console.links.context import LinkError
    from console.links.requests import LinkRequest, create_link, request_key
    from console.staff.roles import StaffUser
    from tests.portal.conftest import dunning_customer

    settings = settings_with(PORTAL_LINKS_PER_HOUR="2")
    assert settings.smtp_host is None  # no SMTP: emails are written to the outbox folder
    agent = StaffUser("sam", "Sam", "support")
    customer = dunning_customer(settings)
    request = LinkRequest(customer, "payment_method_update", "email")
    outcomes = [
        create_link(settings, agent, request, request_key(agent, request, str(n))).outcome for n in (1, 2)
    ]
    assert outcomes == ["written", "written"]
    with pytest.raises(LinkError, match="limit"):
        create_link(settings, agent, request, request_key(agent, request, "3"))
    made = audit.links_made(OpsStore(settings.ops_db))
    assert len(made) == 2


def test_mrr_is_exact_and_rounded_once_the_same_way(stores: tuple[Path, Path]) -> None:
    warehouse, _ = stores
    with reading(warehouse) as con:
        shown = customers.customer_subscriptions(con, "cus_mrr", datetime(2025, 3, 15)).set_index(
            "Subscription id"
        )["MRR"]
    assert shown.to_dict() == edge_cases.EXPECTED_MRR
    with reading(warehouse) as con:
        table = churn.churn_table(con, now=datetime(2025, 3, 15))
    february = table[(table["month"] == "2025-02") & (table["currency"] == "usd")]
    assert february["mrr_start"].item() == edge_cases.EXPECTED_MRR_FEBRUARY
