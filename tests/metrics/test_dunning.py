"""Dunning per month of first failure and currency against figures worked out by hand.

Invoices of tests/metrics/books.py (`build_year_2025`), all charged automatically unless said:

    in_oob            usd  first failure 02-25          paid 03-02 out of band   amount_paid 2000
    in_paid3          usd  first failure 03-01 10:00    paid on the 3rd retry    amount_paid 1000
    in_void           usd  first failure 03-20          void                     amount_due 3000, remaining 0
    in_eur            eur  first failure 03-10 09:00    paid on the 1st retry    amount_paid 2000
    in_uncollectible  usd  first failure 04-02          uncollectible            remaining 4000 (1000 paid)
    in_pending        usd  first failure 04-28          open                     remaining 2500
    in_jpy            jpy  first failure 04-15          uncollectible            remaining ¥1500
    in_pending2       usd  first failure 05-03          open                     remaining 700
    not in dunning:   in_zero (zero amount, no attempt), in_ok (paid on the first attempt),
                      in_send (send_invoice: a failed card on the hosted page is not dunning)
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from console.ops import audit
from console.ops.store import OpsStore
from console.warehouse import dunning_outcomes, periods
from tests.metrics.books import AUDIT_2025, write_audit

# month, currency, entered, recovered, lost, pending, recovery_rate, recovered/lost/pending amounts
EXPECTED_DUNNING = [
    ("2025-02", "usd", 1, 1, 0, 0, 1.0, 2000, 0, 0),
    ("2025-03", "eur", 1, 1, 0, 0, 1.0, 2000, 0, 0),
    # in_paid3 recovered (1000), in_void lost: a void invoice loses its amount_due (3000), not its
    # amount_remaining (0). Rate 1 / (1 + 1).
    ("2025-03", "usd", 2, 1, 1, 0, 0.5, 1000, 3000, 0),
    ("2025-04", "jpy", 1, 0, 1, 0, 0.0, 0, 1500, 0),
    # in_uncollectible lost 4000 (its amount_remaining), in_pending 2500 pending. Rate 0 / (0 + 1).
    ("2025-04", "usd", 2, 0, 1, 1, 0.0, 0, 4000, 2500),
    # Only pending: the rate's denominator is 0, so no rate.
    ("2025-05", "usd", 1, 0, 0, 1, math.nan, 0, 0, 700),
]


def test_dunning_2025_by_hand(warehouse_2025):
    table = dunning_outcomes.dunning_table(warehouse_2025)
    assert list(table.columns) == dunning_outcomes.DUNNING_COLUMNS
    expected = pd.DataFrame(EXPECTED_DUNNING, columns=dunning_outcomes.DUNNING_COLUMNS)
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


def test_since_narrows_to_later_months(warehouse_2025):
    table = dunning_outcomes.dunning_table(warehouse_2025, since="2025-04")
    assert table[["month", "currency"]].values.tolist() == [
        ["2025-04", "jpy"],
        ["2025-04", "usd"],
        ["2025-05", "usd"],
    ]


def test_recoveries_attempt_and_days(warehouse_2025):
    rows = dunning_outcomes.recoveries(warehouse_2025)
    got = [
        (r.month, r.currency, None if pd.isna(r.attempt) else int(r.attempt), r.days_to_payment, r.invoices)
        for r in rows.itertuples(index=False)
    ]
    assert got == [
        # Out of band: no successful charge, so no retry number; 02-25 00:00 -> 03-02 00:00 = 5 days.
        ("2025-02", "usd", None, 5, 1),
        # Failed 03-10 09:00, paid by the next attempt 03-13 09:00: retry 1, 3 days.
        ("2025-03", "eur", 1, 3, 1),
        # Failed 03-01 10:00; retries 03-04 (failed), 03-08 (failed), 03-12 11:00 (paid): retry 3;
        # 11 days and 1 hour: 11 whole days.
        ("2025-03", "usd", 3, 11, 1),
    ]


def test_decline_codes_of_first_failures(warehouse_2025):
    declines = dunning_outcomes.first_failure_declines(warehouse_2025, since="2025-03")
    assert declines.values.tolist() == [
        ["2025-03", "eur", "insufficient_funds", 1, 1],
        ["2025-03", "usd", "expired_card", 1, 0],  # no decline_code: the failure_code stands in
        [
            "2025-03",
            "usd",
            "insufficient_funds",
            1,
            1,
        ],  # in_paid3's first failure, not its later do_not_honor
        ["2025-04", "jpy", "generic_decline", 1, 0],
        ["2025-04", "usd", "do_not_honor", 1, 0],
        ["2025-04", "usd", "insufficient_funds", 1, 0],
        ["2025-05", "usd", "unknown", 1, 0],
    ]


def test_portal_recoveries_join_the_audit_log(warehouse_2025, tmp_path: Path):
    ops_db = tmp_path / "ops.sqlite3"
    write_audit(ops_db, AUDIT_2025)
    links = audit.links_made(OpsStore(ops_db))
    assert len(links) == 4  # created, emailed, queued; not failed or refused
    found = dunning_outcomes.portal_recoveries(warehouse_2025, links)
    # in_paid3: links 03-02 (10 days before payment: too early) and 03-06 12:00 (queued, 6 days): counts,
    # with the latest link. in_eur: emailed 03-11, paid 03-13. in_oob: its link came before the failure.
    assert found[["invoice_id", "currency", "amount_paid"]].values.tolist() == [
        ["in_eur", "eur", 2000],
        ["in_paid3", "usd", 1000],
    ]
    assert str(found.loc[1, "link_sent_at"]) == "2025-03-06 12:00:00"


def test_a_link_written_to_the_outbox_folder_counts_as_made(warehouse_2025, tmp_path: Path):
    ops_db = tmp_path / "ops.sqlite3"
    write_audit(ops_db, [("2025-03-11T10:00:00Z", "cus_g", "written")])  # the demo's outbox folder
    links = audit.links_made(OpsStore(ops_db))
    assert links[["customer_id", "flow"]].values.tolist() == [["cus_g", "payment_method_update"]]
    found = dunning_outcomes.portal_recoveries(warehouse_2025, links)
    assert found["invoice_id"].tolist() == ["in_eur"]


def test_no_ops_store_means_no_links(warehouse_2025, tmp_path: Path):
    links = audit.links_made(OpsStore(tmp_path / "missing.sqlite3"))
    assert links.empty
    assert dunning_outcomes.portal_recoveries(warehouse_2025, links).empty
    assert not (tmp_path / "missing.sqlite3").exists()  # reading never creates the ops store


def test_summary_rate_from_summed_counts(warehouse_2025):
    usd = periods.narrow(dunning_outcomes.dunning_table(warehouse_2025), "usd", "2025-02", "2025-05")
    totals = dunning_outcomes.dunning_summary(usd)
    # recovered 1 + 1, lost 1 + 1: 2 / 4; amounts 2000 + 1000, 3000 + 4000, 2500 + 700.
    assert totals == {
        "entered": 6, "recovered": 2, "lost": 2, "pending": 2, "amount_recovered": 3000,
        "amount_lost": 7000, "amount_pending": 3200, "recovery_rate": 0.5,
    }  # fmt: skip
