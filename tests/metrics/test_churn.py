"""Churn per month and currency against figures worked out by hand (METRICS.md).

The scenario is tests/metrics/books.py (`build_year_2025`). Paid-active intervals
[paid_start, end), and the month starts (first instants, UTC) each one covers:

    usd  sub_a1  cus_a   01-10 .. 04-20  monthly 1000           Feb Mar Apr       MRR 1000
    usd  sub_a2  cus_a   02-05 .. 06-10  yearly 10000           Mar Apr May Jun   MRR 10000/12
    usd  sub_b   cus_b   trial to 02-19, ended 02-10: never paid (start_date 01-20 would cover Feb)
    usd  sub_b2  cus_b2  03-10 .. 05-15  quarterly 3000 x 2     Apr May           MRR 6000/3 = 2000
                         (trial from 02-10: start_date would wrongly cover Mar)
    usd  sub_c   cus_c   01-01 00:00 .. 04-01 00:00  weekly 700 Jan Feb Mar       MRR 700*52/12 = 9100/3
                         (cancel_at_period_end, canceled 02-15: churns in March, when it ends)
    usd  sub_d   cus_d   01-15 .. 03-20  monthly 1000 x 3       Feb Mar           MRR 3000   (no customer row)
    usd  sub_e   cus_e   02-20 .. 05-02  quarterly 1000         Mar Apr May       MRR 1000/3 (deleted)
    usd  sub_f   cus_f   incomplete_expired: never paid
    usd  sub_k1  cus_k   01-05 .. 02-10  monthly 1000           Feb               MRR 1000
    usd  sub_k2  cus_k   03-20 .. 04-10  monthly 1000           Apr               MRR 1000
    eur  sub_g   cus_g   02-01 00:00 .. 03-15  monthly 2000     Feb Mar           MRR 2000
    eur  sub_g2  cus_g2  01-20 .. 03-25  yearly 30              Feb Mar           MRR 30/12 = 2.5
    jpy  sub_j   cus_j   03-10 .. 05-10  yearly ¥10000          Apr May           MRR 10000/12
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import duckdb
import pytest

from console.rules.mrr import round_half_away
from console.warehouse import churn
from tests.metrics.books import Books

AFTER_2025 = datetime(2026, 1, 10, tzinfo=UTC)

# (month, currency, subscribers_start, churned, voluntary, involuntary, logo rate,
#  exact MRR at start, exact MRR churned); rates and rounding derive from the exact values.
EXPECTED_2025 = [
    # Jan usd: cus_c only (its start is the first instant of January). MRR 9100/3 = 3033.33.
    ("2025-01", "usd", 1, 0, 0, 0, Fraction(0), Fraction(9100, 3), Fraction(0)),
    # Feb eur: cus_g (starts exactly 02-01 00:00) and cus_g2; both still there on 03-01.
    # MRR 2000 + 2.5 = 2002.5 -> 2003 (half away from zero; round-half-even would say 2002).
    ("2025-02", "eur", 2, 0, 0, 0, Fraction(0), Fraction(4005, 2), Fraction(0)),
    # Feb usd: cus_a (a1), cus_c, cus_d, cus_k (k1) = 4; on 03-01 cus_k has no subscription (k1 ended
    # 02-10, k2 starts 03-20): 1 churned, k1 cancellation_requested -> voluntary.
    # MRR 1000 + 9100/3 + 3000 + 1000 = 24100/3 = 8033.33; churned k1 1000; rate 3000/24100.
    ("2025-02", "usd", 4, 1, 1, 0, Fraction(1, 4), Fraction(24100, 3), Fraction(1000)),
    # Mar eur: both churn: sub_g payment_failed (involuntary), sub_g2 cancellation_requested.
    ("2025-03", "eur", 2, 2, 1, 1, Fraction(1), Fraction(4005, 2), Fraction(4005, 2)),
    # Mar usd: cus_a (a1, a2 - counted once), cus_c, cus_d, cus_e = 4 (cus_k is away). On 04-01:
    # cus_c ended at 04-01 00:00 exactly (voluntary), cus_d ended 03-20 (payment_disputed: involuntary).
    # MRR in twelfths: 12000 + 10000 + 36400 + 36000 + 4000 = 98400/12 = 8200;
    # churned c + d = (36400 + 36000)/12 = 6033.33.
    ("2025-03", "usd", 4, 2, 1, 1, Fraction(2, 4), Fraction(8200), Fraction(72400, 12)),
    # Apr jpy: cus_j; ¥10000/12 = 833.33 -> 833.
    ("2025-04", "jpy", 1, 0, 0, 0, Fraction(0), Fraction(10000, 12), Fraction(0)),
    # Apr usd: cus_a, cus_b2, cus_e, cus_k (k2) = 4. On 05-01 cus_k is gone again: its last ended
    # subscription (k2, 04-10, payment_failed) makes it involuntary. sub_a1 ended too, but cus_a
    # stays (a2): MRR churned counts a1 and k2, logo churn only cus_k.
    # MRR (12000 + 10000 + 24000 + 4000 + 12000)/12 = 62000/12 = 5166.67 -> 5167; churned 2000.
    ("2025-04", "usd", 4, 1, 0, 1, Fraction(1, 4), Fraction(62000, 12), Fraction(2000)),
    ("2025-05", "jpy", 1, 1, 1, 0, Fraction(1), Fraction(10000, 12), Fraction(10000, 12)),
    # May usd: cus_a (a2), cus_b2, cus_e = 3; b2 (cancellation_requested) and e (no reason) churn,
    # both voluntary. MRR (10000 + 24000 + 4000)/12 = 3166.67; churned 28000/12 = 2333.33.
    ("2025-05", "usd", 3, 2, 2, 0, Fraction(2, 3), Fraction(38000, 12), Fraction(28000, 12)),
    # Jun usd: cus_a (a2) churns; its last ended subscription is a2 (06-10, payment_failed), not a1.
    ("2025-06", "usd", 1, 1, 0, 1, Fraction(1), Fraction(10000, 12), Fraction(10000, 12)),
]


def assert_table(table, expected) -> None:
    assert list(table.columns) == churn.CHURN_COLUMNS
    assert len(table) == len(expected), table.to_string()
    for row, (month, currency, subs, churned, vol, invol, logo, mrr_start, mrr_churned) in zip(
        table.itertuples(index=False), expected, strict=True
    ):
        where = f"{month} {currency}"
        assert (row.month, row.currency) == (month, currency)
        assert (row.subscribers_start, row.churned, row.churned_voluntary, row.churned_involuntary) == (
            subs, churned, vol, invol,
        ), where  # fmt: skip
        assert row.logo_churn_rate == pytest.approx(float(logo), abs=1e-15), where
        assert row.mrr_start == round_half_away(mrr_start), where
        assert row.mrr_churned == round_half_away(mrr_churned), where
        assert row.mrr_churn_rate == pytest.approx(float(mrr_churned / mrr_start), abs=1e-15), where


def test_churn_2025_by_hand(warehouse_2025):
    assert_table(churn.churn_table(warehouse_2025, now=AFTER_2025), EXPECTED_2025)


def test_rounded_figures_of_2025(warehouse_2025):
    table = churn.churn_table(warehouse_2025, now=AFTER_2025).set_index(["month", "currency"])
    assert table.loc[("2025-02", "eur"), "mrr_start"] == 2003  # 2002.5, half away from zero
    assert table.loc[("2025-03", "usd"), "mrr_churned"] == 6033  # 6033.33
    assert table.loc[("2025-04", "usd"), "mrr_start"] == 5167  # 5166.67
    assert table.loc[("2025-04", "jpy"), "mrr_start"] == 833  # ¥833.33


def test_since_keeps_later_months_with_the_same_figures(warehouse_2025):
    table = churn.churn_table(warehouse_2025, now=AFTER_2025, since="2025-04")
    assert_table(table, [row for row in EXPECTED_2025 if row[0] >= "2025-04"])
    with pytest.raises(ValueError, match="YYYY-MM"):
        churn.churn_table(warehouse_2025, since="2025-4")


def test_round_half_away_from_zero():
    assert [round_half_away(Fraction(n, 2)) for n in (-3, -1, 1, 3, 5)] == [-2, -1, 1, 2, 3]


@pytest.fixture
def books(tmp_path: Path):
    b = Books(tmp_path / "small.duckdb")
    b.price("m10", "usd", 1000, "month")
    b.price("y", "usd", 1000, "year")
    b.price("d", "usd", 12, "day")
    return b


def churn_of(books: Books, now: datetime):
    books.close()
    conn = duckdb.connect(str(books.path), read_only=True)
    try:
        return churn.churn_table(conn, now=now)
    finally:
        conn.close()


def test_current_unfinished_month_reads_now(books):
    # now = 2026-03-15 12:00. March's "next month start" is now.
    books.subscription("sub_x", "cus_x", "usd", "2026-01-10", "m10")  # still running
    books.subscription(
        "sub_y", "cus_y", "usd", "2026-01-05", "m10", ended="2026-03-10", reason="payment_failed"
    )
    # Scheduled to end 04-10: still paid-active now, so not churned in March.
    books.subscription("sub_z", "cus_z", "usd", "2026-02-10", "m10", cancel_at_period_end=True,
                       canceled_at="2026-03-01")  # fmt: skip
    # Trial ends after now: not a subscriber in any month yet.
    books.subscription("sub_t", "cus_t", "usd", "2026-03-06", "m10", trial=("2026-03-06", "2026-03-20"),
                       status="trialing")  # fmt: skip
    table = churn_of(books, datetime(2026, 3, 15, 12))
    # Feb: x, y = 2 (z starts 02-10), all there on 03-01. Mar: x, y, z = 3; y ended before now.
    # No April row: April has not begun.
    assert_table(
        table,
        [
            ("2026-02", "usd", 2, 0, 0, 0, Fraction(0), Fraction(2000), Fraction(0)),
            ("2026-03", "usd", 3, 1, 0, 1, Fraction(1, 3), Fraction(3000), Fraction(1000)),
        ],
    )


def test_a_subscription_ending_after_now_is_active_now(books):
    # Timestamps past "now" (an injected now in the past): the March row must not count it as churned.
    books.subscription("sub_x", "cus_x", "usd", "2026-01-10", "m10", ended="2026-03-20")
    table = churn_of(books, datetime(2026, 3, 15))
    assert table[["month", "churned"]].values.tolist() == [["2026-02", 0], ["2026-03", 0]]


def test_daily_price_and_a_customer_switching_on_the_same_instant(books):
    # A switch of plan at the same instant leaves no gap: no churn. Day price 12 -> 12*365/12 = 365.
    books.subscription("sub_1", "cus_s", "usd", "2026-01-10", "m10", ended="2026-02-15 08:00")
    books.subscription("sub_2", "cus_s", "usd", "2026-02-15 08:00", "d", ended="2026-03-20")
    table = churn_of(books, datetime(2026, 5, 1))
    assert_table(
        table,
        [
            ("2026-02", "usd", 1, 0, 0, 0, Fraction(0), Fraction(1000), Fraction(1000)),
            ("2026-03", "usd", 1, 1, 1, 0, Fraction(1), Fraction(365), Fraction(365)),
        ],
    )


def test_empty_warehouse_has_no_rows(books):
    table = churn_of(books, datetime(2026, 5, 1))
    assert table.empty and list(table.columns) == churn.CHURN_COLUMNS


def test_cohorts_of_2025(warehouse_2025):
    cohorts = churn.churn_cohorts(warehouse_2025, now=datetime(2025, 8, 1))
    usd = cohorts[(cohorts["currency"] == "usd")].set_index(["cohort", "months_after"])
    # January usd cohort: first paid in January: cus_a (01-10), cus_c (01-01), cus_d (01-15), cus_k (01-05).
    # At 02-01 all 4; 03-01: a, c, d (k away); 04-01: a, k (back); 05-01: a; 06-01: a; 07-01: none.
    january = usd.loc["2025-01"]
    assert january["customers"].tolist() == [4, 4, 3, 2, 1, 1, 0, 0]
    assert (january["cohort_size"] == 4).all()
    assert january.loc[2, "share"] == pytest.approx(0.75)
    # February usd cohort: cus_e (02-20) only; cus_b never paid. March: cus_b2 (paid from 03-10).
    assert usd.loc["2025-02"]["customers"].tolist()[:5] == [1, 1, 1, 1, 0]
    assert usd.loc["2025-03"]["customers"].tolist()[:4] == [1, 1, 1, 0]
    assert set(cohorts["currency"]) == {"usd", "eur", "jpy"}


def test_the_month_so_far_follows_now_across_a_gap(books):
    # cus_g stops on 03-10 and starts again on 03-20: churned in March while the gap lasts, not after.
    # cus_h ends on 03-12 (voluntary; its yearly item churns 1000/12), cus_k on 03-25 (involuntary).
    books.subscription("sub_g1", "cus_g", "usd", "2026-01-05", "m10", ended="2026-03-10")
    books.subscription("sub_g2", "cus_g", "usd", "2026-03-20", "m10")
    books.subscription("sub_h", "cus_h", "usd", "2026-01-05", "y", ended="2026-03-12",
                       reason="cancellation_requested")  # fmt: skip
    books.subscription(
        "sub_k", "cus_k", "usd", "2026-01-05", "m10", ended="2026-03-25", reason="payment_failed"
    )
    books.close()
    conn = duckdb.connect(str(books.path), read_only=True)
    try:
        history = churn.churn_history(conn, "2026-03")
        for now, churned, voluntary, involuntary, mrr_churned in (
            (datetime(2026, 3, 1), 0, 0, 0, Fraction(0)),
            (datetime(2026, 3, 11), 1, 1, 0, Fraction(1000)),  # cus_g in its gap
            (datetime(2026, 3, 15), 2, 2, 0, Fraction(1000) + Fraction(1000, 12)),
            (datetime(2026, 3, 21), 1, 1, 0, Fraction(1000) + Fraction(1000, 12)),  # cus_g is back
            (datetime(2026, 3, 31, 23, 59), 2, 1, 1, Fraction(2000) + Fraction(1000, 12)),
        ):
            march = churn.churn_month_so_far(history, now).iloc[-1]
            assert (march.month, march.subscribers_start) == ("2026-03", 3)
            assert (march.churned, march.churned_voluntary, march.churned_involuntary) == (
                churned, voluntary, involuntary,
            ), now  # fmt: skip
            assert march.mrr_churned == round_half_away(mrr_churned), now
            assert march.mrr_churn_rate == pytest.approx(
                float(mrr_churned / (Fraction(2000) + Fraction(1000, 12)))
            )
            # The report for that instant is the same table.
            assert churn.churn_table(conn, now=now).equals(churn.churn_month_so_far(history, now)), now
        with pytest.raises(ValueError, match="not in 2026-03"):
            churn.churn_month_so_far(history, datetime(2026, 4, 1))
    finally:
        conn.close()


def test_two_subscriptions_over_the_same_months_count_one_customer(books):
    # Same paid months for both subscriptions of cus_d (a tie in every sort key but the id): one
    # island, one subscriber, whichever order the window functions see them in.
    for n in range(30):
        books.subscription(f"sub_d{n}a", f"cus_d{n}", "usd", "2026-01-05", "m10", ended="2026-03-10")
        books.subscription(f"sub_d{n}b", f"cus_d{n}", "usd", "2026-01-20", "m10", ended="2026-03-20")
    table = churn_of(books, datetime(2026, 5, 1))
    assert table["subscribers_start"].tolist() == [30, 30] and table["churned"].tolist() == [0, 30]


def test_since_on_an_empty_table(books):
    table = churn_of_since(books, datetime(2026, 5, 1), "2026-01")
    assert table.empty and list(table.columns) == churn.CHURN_COLUMNS


def churn_of_since(books: Books, now: datetime, since: str):
    books.close()
    conn = duckdb.connect(str(books.path), read_only=True)
    try:
        return churn.churn_table(conn, now=now, since=since)
    finally:
        conn.close()
