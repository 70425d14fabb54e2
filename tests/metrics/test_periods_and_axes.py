"""Periods and axes of the finance pages (#15): continuous months, the month so far, the default
currency, the URL, round axis ticks, the heatmap's no-data cells and the full invoices CSV."""

from __future__ import annotations

import csv
import io
import math
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from console.display.tables import people_frame
from console.ui import charts
from console.warehouse import invoices, periods
from tests.metrics.books import Books
from tests.metrics.test_pages import figures, metric_values, page

NICE = {m * 10**k for m in (1, 2, 5) for k in range(0, 9)}


@pytest.fixture
def gap_books(console_env: dict[str, str]) -> Path:
    """usd dunning in February and April 2025, none in March; eur: five invoices in one month."""
    b = Books(Path(console_env["BILLING_DB"]))
    b.invoice("in_feb", "cus_1", "usd", "paid", 1000, amount_paid=1000, paid_at="2025-02-05")
    b.attempt("in_feb", "cus_1", "usd", "2025-02-01", "failed", 1000, "insufficient_funds")
    b.invoice("in_apr", "cus_2", "usd", "void", 123456, amount_remaining=0)
    b.attempt("in_apr", "cus_2", "usd", "2025-04-01", "failed", 123456, "do_not_honor")
    for n in range(5):
        b.invoice(f"in_eur{n}", "cus_3", "eur", "open", 500)
        b.attempt(f"in_eur{n}", "cus_3", "eur", "2025-04-10", "failed", 500, "insufficient_funds")
    b.close()
    return b.path


def test_a_month_without_entries_has_zero_counts_and_no_rate():
    table = pd.DataFrame(
        {
            "month": ["2025-02", "2025-04"],
            "currency": ["usd", "usd"],
            "entered": [1, 1],
            "recovery_rate": [1.0, 0.0],
        }
    )
    filled = periods.continuous(table, "usd", "2025-01", "2025-04")
    assert filled["month"].tolist() == ["2025-01", "2025-02", "2025-03", "2025-04"]
    assert filled["entered"].tolist() == [0, 1, 0, 1]
    assert math.isnan(filled["recovery_rate"][2]) and math.isnan(filled["recovery_rate"][0])
    assert periods.span(table) == ["2025-02", "2025-03", "2025-04"]


def test_the_dunning_page_shows_the_empty_month_unjoined(app_as, gap_books):
    at = page(app_as, "finance", "dunning")
    at.selectbox[0].select("usd").run()
    assert not at.exception
    assert at.select_slider[0].options == ["2025-02", "2025-03", "2025-04"]  # the empty month is offered
    monthly = at.dataframe[0].value
    assert monthly["month"].tolist() == ["2025-02", "2025-03", "2025-04"]
    assert monthly["entered"].tolist() == [1, 0, 1]
    assert monthly["recovery_rate"].tolist() == ["100.00%", "", "0.00%"]  # blank, not 0%
    assert monthly["recovery_rate_n"].tolist() == [1, 0, 1]
    outcomes = figures(at)["Invoices entering dunning by outcome (USD)"]
    rate = outcomes["data"][3]
    assert rate["y"] == [1.0, None, 0.0] and rate["connectgaps"] is False
    assert rate["customdata"] == [[1, 1], [0, 0], [0, 1]]  # recovered and n in the hover
    assert "n = " in rate["hovertemplate"]
    # The rate axis: 0-100%, ticks every 25 points.
    axis = outcomes["layout"]["yaxis2"]
    assert axis["range"] == [0, 1] and axis["dtick"] == 0.25 and axis["tickformat"] == ".0%"
    # The CSV keeps the report's rows: no row for the empty month.
    assert at.get("download_button")[0].proto.label == "Download dunning (CSV)"
    # The money axis: $1,234.56 lost, ticks at round dollars up to a round top.
    at.session_state["dunning-chart"] = "Amounts"
    amounts = figures(at.run())["Amounts recovered and lost (USD)"]["layout"]["yaxis"]
    assert amounts["dtick"] in NICE and amounts["range"][1] % amounts["dtick"] == 0
    assert amounts["range"] == [0, 1500] and amounts["dtick"] == 500


def test_default_currency_has_the_most_volume_in_the_period(app_as, gap_books):
    at = page(app_as, "finance", "dunning")
    assert at.selectbox[0].value == "eur"  # five invoices entered against two usd ones
    linked = app_as("finance", "pages/dunning.py", timeout=60)
    linked.query_params["from"] = "2025-02"
    linked.query_params["to"] = "2025-03"
    linked.run()
    assert linked.selectbox[0].value == "usd"  # eur had nothing then


def test_currency_and_months_survive_a_reload(app_as, books_2025):
    at = page(app_as, "finance", "dunning")
    at.selectbox[0].select("usd").run()
    at.select_slider[0].set_value(("2025-03", "2025-04")).run()
    assert dict(at.query_params) == {"currency": "usd", "from": "2025-03", "to": "2025-04"}
    reloaded = app_as("finance", "pages/dunning.py", timeout=60)
    for name, value in at.query_params.items():
        reloaded.query_params[name] = value
    reloaded.run()
    assert reloaded.selectbox[0].value == "usd"
    assert reloaded.select_slider[0].value == ("2025-03", "2025-04")
    assert metric_values(reloaded)["Entered dunning"] == "4"
    # A malformed URL falls back to the defaults.
    bad = app_as("finance", "pages/churn.py", timeout=60)
    bad.query_params.update({"currency": "xyz", "from": "2025-13", "to": "soon"})
    bad.run()
    assert not bad.exception and bad.selectbox[0].value == "usd"


def test_invoice_filters_survive_a_reload(app_as, books_2025):
    at = app_as("finance", "pages/invoices.py", timeout=60)
    at.query_params.update({"status": "paid,bogus", "currency": "usd", "min": "10"})
    at.run()
    assert not at.exception
    assert at.multiselect[0].value == ["paid"] and at.selectbox[0].value == "usd"
    assert at.number_input[0].value == 10.0
    assert dict(at.query_params) == {"status": "paid", "currency": "usd", "min": "10.0"}


def test_churn_rates_are_on_a_0_to_100_axis(app_as, books_2025):
    at = page(app_as, "finance", "churn")
    rates = figures(at)["Logo and MRR churn rate (USD)"]
    axis = rates["layout"]["yaxis"]
    assert axis["range"] == [0, 1] and axis["dtick"] == 0.1 and axis["tickformat"] == ".0%"
    assert rates["data"][0]["customdata"][0] == [0, 1]  # churned of n = subscribers at the start
    at.session_state["churn-chart"] = "Subscribers and MRR"
    mrr = figures(at.run())["Subscribers and MRR at month start (USD)"]["layout"]["yaxis2"]
    assert mrr["dtick"] in NICE and mrr["range"][1] % mrr["dtick"] == 0 and mrr["tickformat"] == ",.0f"


@pytest.mark.parametrize(
    ("largest", "step"), [(0, 1), (0.4, 1), (7, 2), (30.33, 10), (82, 20), (1234.56, 500), (98_765, 20_000)]
)
def test_money_ticks_are_round_major_units(largest, step):
    assert charts.nice_step(largest) == step


def test_the_month_so_far_is_marked():
    table = pd.DataFrame(
        {"month": ["2026-10", "2026-11", "2026-12"], "currency": "usd", "entered": [2, 2, 1],
         "recovered": [1, 1, 0], "lost": [1, 0, 0], "pending": [0, 1, 1],
         "recovery_rate": [0.5, 1.0, float("nan")],
         "amount_recovered": [1, 1, 0], "amount_lost": [1, 0, 0], "amount_pending": [0, 1, 1]}
    )  # fmt: skip
    figure = charts.dunning_outcomes(table, "usd", partial="2026-12")
    assert list(figure.data[0].marker.pattern.shape) == ["", "", "/"]  # hatched bars
    assert "month so far" in figure.layout.xaxis.title.text
    table.loc[2, "recovery_rate"] = 0.0
    table.loc[2, "lost"] = 1
    figure = charts.dunning_outcomes(table, "usd", partial="2026-12")
    solid, dotted, point = figure.data[3:]
    assert list(solid.y) == [0.5, 1.0, None]  # the trend line stops before the month so far
    assert dotted.line.dash == "dot" and list(dotted.y) == [1.0, 0.0]
    assert point.marker.symbol == "circle-open" and "month so far" in point.hovertemplate
    shown = people_frame(table, "2026-12")
    assert shown["month"].tolist()[-1] == "2026-12 (month so far)"


def test_heatmap_no_data_is_grey_not_zero():
    cohorts = pd.DataFrame(
        {"currency": "usd", "cohort": ["2025-01", "2025-01", "2025-03"], "months_after": [0, 1, 0],
         "customers": [2, 0, 1], "cohort_size": [2, 2, 1], "share": [1.0, 0.0, 1.0]}
    )  # fmt: skip
    figure = charts.cohort_heatmap(cohorts, "usd", periods.month_span("2025-01", "2025-03"))
    heat, legend = figure.data
    assert list(heat.y) == ["2025-01", "2025-02", "2025-03"]  # the month without a cohort has a row
    assert [list(row) for row in heat.z] == [[1.0, 0.0], [None, None], [1.0, None]]  # 0% stays 0
    assert figure.layout.plot_bgcolor == charts.NO_DATA_GREY and legend.marker.color == charts.NO_DATA_GREY
    assert heat.hoverongaps is False and "No data" in legend.name


def test_invoices_csv_has_every_row_beyond_the_page_limit(tmp_path):
    path = tmp_path / "billing.duckdb"
    Books(path).close()
    rows = invoices.ROW_LIMIT + 250
    with duckdb.connect(str(path)) as con:
        con.execute(
            "INSERT INTO invoices (id, number, customer_id, status, collection_method, currency, amount_due, "
            "amount_paid, amount_remaining, created, customer_email) "
            "SELECT 'in_' || i, 'N-' || i, 'cus_' || (i % 50), 'open', 'charge_automatically', 'usd', "
            "i, 0, i, "
            "TIMESTAMP '2025-01-01' + to_seconds(i), CASE WHEN i = 7 THEN '=HYPERLINK(\"x\")' END "
            "FROM range(?) t(i)",
            [rows],
        )
        page_rows = invoices.list_invoices(con, invoices.InvoiceFilter()).rows
        text = invoices.invoices_csv(con, invoices.InvoiceFilter(), chunk=1000)
        narrowed = invoices.invoices_csv(con, invoices.InvoiceFilter(currency="usd", amount_max=Decimal(10)))
    assert len(page_rows) == invoices.ROW_LIMIT
    read = list(csv.DictReader(io.StringIO(text)))
    assert len(read) == rows and len({r["Invoice id"] for r in read}) == rows
    assert text.count("Number,Invoice id") == 1  # one header across the chunks
    assert next(r for r in read if r["Invoice id"] == "in_7")["Email"] == '\'=HYPERLINK("x")'
    assert [r["Invoice id"] for r in read[:2]] == [page_rows["Invoice id"][0], page_rows["Invoice id"][1]]
    assert len(list(csv.DictReader(io.StringIO(narrowed)))) == 1001  # amount_due 0 .. 1000 cents ($10)
