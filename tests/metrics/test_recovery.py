"""The support team's effect on recovery (docs/METRICS.md): linked and unlinked invoices per
month of first failure and currency, worked out by hand on a small scenario that holds the
edges of "linked": links before the first failure, after the invoice left dunning, refused,
written and emailed, and an invoice still open."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from console import ops
from console.ops import audit
from console.warehouse import recovery
from console.warehouse.snapshots import reading
from tests.metrics.books import Books, write_audit
from tests.metrics.test_report import report

NOW = datetime(2026, 12, 1)

# Worked out below, invoice by invoice.
RECOVERY_CSV = """\
month,currency,linked,linked_recovered,linked_lost,linked_recovery_rate,unlinked,unlinked_recovered,unlinked_lost,unlinked_recovery_rate
2025-03,usd,3,1,1,0.500000,4,2,1,0.6666666666666666
2025-04,usd,1,0,1,0.000000,0,0,0,
2025-05,eur,0,0,0,,1,1,0,1.000000
"""

# (at, customer, outcome)
LINKS = [
    ("2025-03-05T10:00:00Z", "cus_1", "emailed"),  # in_linked_paid: between failure and payment
    ("2025-03-15T10:00:00Z", "cus_2", "written"),  # in_linked_void: before it was voided (03-20)
    ("2025-03-25T10:00:00Z", "cus_3", "created"),  # in_linked_open: still open, so up to now
    ("2025-03-09T10:00:00Z", "cus_4", "emailed"),  # before in_early_link's first failure (03-10)
    ("2025-03-09T10:00:00Z", "cus_5", "emailed"),  # after in_late_link was marked uncollectible (03-08)
    ("2025-03-06T10:00:00Z", "cus_6", "refused"),  # refused: no link made
    ("2025-03-06T11:00:00Z", "cus_6", "failed"),  # failed: no link made
    ("2025-04-10T10:00:00Z", "cus_1", "uncertain"),  # in_april, lost 04-20: counts
    ("2025-03-06T10:00:00Z", "cus_9", "emailed"),  # send_invoice: never in dunning
]


@pytest.fixture
def scenario(tmp_path: Path) -> tuple[Path, Path]:
    b = Books(tmp_path / "billing.duckdb")
    usd = "usd"
    # March, usd. Linked: recovered, lost (void), pending.
    b.invoice("in_linked_paid", "cus_1", usd, "paid", 1000, amount_paid=1000, paid_at="2025-03-10")
    b.attempt("in_linked_paid", "cus_1", usd, "2025-03-01", "failed", 1000, "insufficient_funds")
    b.invoice("in_linked_void", "cus_2", usd, "void", 1000, amount_remaining=0, voided_at="2025-03-20")
    b.attempt("in_linked_void", "cus_2", usd, "2025-03-02", "failed", 1000, "do_not_honor")
    b.invoice("in_linked_open", "cus_3", usd, "open", 1000)
    b.attempt("in_linked_open", "cus_3", usd, "2025-03-03", "failed", 1000, "expired_card")
    # March, usd. Unlinked: recovered twice, lost once, pending once.
    b.invoice("in_early_link", "cus_4", usd, "paid", 1000, amount_paid=1000, paid_at="2025-03-12")
    b.attempt("in_early_link", "cus_4", usd, "2025-03-10", "failed", 1000, "insufficient_funds")
    b.invoice("in_late_link", "cus_5", usd, "uncollectible", 1000, marked_uncollectible_at="2025-03-08")
    b.attempt("in_late_link", "cus_5", usd, "2025-03-04", "failed", 1000, "do_not_honor")
    b.invoice("in_refused", "cus_6", usd, "paid", 1000, amount_paid=1000, paid_at="2025-03-07")
    b.attempt("in_refused", "cus_6", usd, "2025-03-05", "failed", 1000, "insufficient_funds")
    b.invoice("in_no_link", "cus_7", usd, "open", 1000)
    b.attempt("in_no_link", "cus_7", usd, "2025-03-06", "failed", 1000, "insufficient_funds")
    # Paid by hand: a failed attempt does not make it dunning, with or without a link.
    b.invoice("in_send", "cus_9", usd, "open", 1000, collection_method="send_invoice")
    b.attempt("in_send", "cus_9", usd, "2025-03-05", "failed", 1000, "insufficient_funds")
    # April, usd: cus_1 again. Its March link is before this failure; the April one counts.
    b.invoice("in_april", "cus_1", usd, "uncollectible", 1000, marked_uncollectible_at="2025-04-20")
    b.attempt("in_april", "cus_1", usd, "2025-04-02", "failed", 1000, "insufficient_funds")
    # May, eur: recovered without a link.
    b.invoice("in_eur", "cus_8", "eur", "paid", 1000, amount_paid=1000, paid_at="2025-05-03")
    b.attempt("in_eur", "cus_8", "eur", "2025-05-01", "failed", 1000, "insufficient_funds")
    b.close()
    ops_db = tmp_path / "ops.sqlite3"
    write_audit(ops_db, LINKS)
    return b.path, ops_db


def test_recovery_table_is_the_hand_worked_one(scenario):
    warehouse, ops_db = scenario
    links = audit.links_made(ops.store_for(ops_db))
    with reading(warehouse) as conn:
        table = recovery.recovery_table(conn, links, now=NOW)
    assert table.columns.tolist() == recovery.RECOVERY_COLUMNS
    march = table.iloc[0].to_dict()
    assert march == {
        "month": "2025-03", "currency": "usd",
        "linked": 3, "linked_recovered": 1, "linked_lost": 1, "linked_recovery_rate": 0.5,
        "unlinked": 4, "unlinked_recovered": 2, "unlinked_lost": 1, "unlinked_recovery_rate": 2 / 3,
    }  # fmt: skip
    summary = recovery.recovery_summary(table[table["currency"] == "usd"])
    # usd over both months: linked 1 of 3 settled, unlinked 2 of 3: -1/3.
    assert summary["linked"] == 4 and summary["unlinked"] == 4
    assert summary["difference"] == pytest.approx(1 / 3 - 2 / 3)


def test_an_open_invoice_counts_links_up_to_now(scenario):
    warehouse, ops_db = scenario
    links = audit.links_made(ops.store_for(ops_db))
    with reading(warehouse) as conn:
        before_the_link = recovery.recovery_table(conn, links, now=datetime(2025, 3, 20))
    # in_linked_open's link (03-25) is in its future: unlinked then.
    assert before_the_link.iloc[0]["linked"] == 2 and before_the_link.iloc[0]["unlinked"] == 5


def test_recovery_csv_is_exactly_the_hand_worked_table(scenario):
    warehouse, ops_db = scenario
    done = report("recovery", "--db", str(warehouse), "--ops-db", str(ops_db), "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout == RECOVERY_CSV


def test_recovery_without_an_ops_store_says_so(scenario, tmp_path):
    warehouse, _ = scenario
    done = report("recovery", "--db", str(warehouse), "--ops-db", str(tmp_path / "none.sqlite3"))
    assert done.returncode == 2 and done.stdout == "" and "no ops store" in done.stderr
