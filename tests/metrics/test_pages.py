"""The churn and dunning pages as finance sees them (AppTest), on the hand-built 2025 warehouse."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy
import pytest

from console.display.money import format_money
from tests.metrics.books import Books


def page(app_as, role: str, name: str):
    return app_as(role, f"pages/{name}.py", timeout=60).run()


def decoded(value):
    """JSON from Plotly with its typed arrays ({'dtype', 'bdata'[, 'shape']}) turned into lists."""
    if isinstance(value, dict) and "bdata" in value and "dtype" in value:
        array = numpy.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        if "shape" in value:
            array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
        return array.tolist()
    if isinstance(value, dict):
        return {key: decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decoded(item) for item in value]
    return value


def figures(at) -> dict[str, dict]:
    """The page's Plotly figures by title, as plain JSON."""
    specs = [decoded(json.loads(chart.proto.spec)) for chart in at.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def metric_values(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def every_tab(at, key: str) -> tuple[dict[str, dict], dict[str, str], str]:
    """Open each chart tab in turn: the figures, metrics and text of all of them (one tab is drawn
    at a time)."""
    shown, values, text = {}, {}, ""
    for tab in at.tabs:
        at.session_state[key] = tab.label
        at.run()
        assert not at.exception
        drawn = figures(at)
        assert len(drawn) <= 2, f"{tab.label}: only the open tab's charts are sent"
        shown |= drawn
        values |= metric_values(at)
        text += " ".join(md.value for md in at.markdown)
    return shown, values, text


@pytest.mark.parametrize("name", ["churn", "dunning"])
def test_support_is_refused(app_as, books_2025, name):
    at = page(app_as, "support", name)
    assert [e.value for e in at.error] == [
        f"Your role (support) does not give access to "
        f"{'Churn' if name == 'churn' else 'Dunning outcomes'}. Ask an admin if you need it."
    ]
    assert not at.get("plotly_chart") and not at.dataframe and not at.metric


def test_dunning_page_shows_the_hand_worked_figures(app_as, books_2025):
    at = page(app_as, "finance", "dunning")
    assert not at.exception
    assert at.selectbox[0].value == "usd"  # most months first
    # One chart at first: the outcomes, the first tab.
    assert list(figures(at)) == ["Invoices entering dunning by outcome (USD)"]
    monthly = at.dataframe[0].value
    first_download = at.get("download_button")[0].proto.label
    charts, values, text = every_tab(at, "dunning-chart")
    # usd, all months (see test_dunning.py): 6 entered; 2 recovered (2000 + 1000), 2 lost (3000 + 4000),
    # 2 pending (2500 + 700); rate 2 / 4.
    assert values == {
        "Entered dunning": "6", "Recovered": "2", "Lost": "2", "Pending": "2", "Recovery rate": "50.0%",
        "Amount recovered": "$30.00", "Amount lost": "$70.00", "Amount pending": "$32.00",
        "Recovered after a portal link": "1 of 2",
    }  # fmt: skip
    assert monthly["month"].tolist() == ["2025-02", "2025-03", "2025-04", "2025-05"]
    assert monthly["amount_lost"].tolist() == ["$0.00", "$30.00", "$40.00", "$0.00"]
    assert monthly["recovery_rate"].tolist() == ["100.00%", "50.00%", "0.00%", ""]
    outcomes = charts["Invoices entering dunning by outcome (USD)"]
    recovered, lost, pending, _rate = outcomes["data"]
    assert recovered["y"] == [1, 1, 0, 0] and lost["y"] == [0, 1, 1, 0] and pending["y"] == [0, 0, 1, 1]
    assert lost["customdata"] == ["$0.00", "$30.00", "$40.00", "$0.00"]  # hover amounts
    assert outcomes["layout"]["xaxis"]["title"]["text"].startswith("Month of first failed payment")
    amounts = charts["Amounts recovered and lost (USD)"]
    assert amounts["layout"]["yaxis"]["title"]["text"] == "Amount (USD)"
    assert amounts["data"][1]["y"] == [0.0, 30.0, 40.0, 0.0]  # dollars on the axis
    retries = charts["Retry on which recovered invoices were paid (USD)"]["data"][0]
    assert retries["x"] == ["3", "paid without a retry"] and retries["y"] == [1, 1]
    # Definitions beside the charts, with the Stripe Dashboard difference.
    assert "Stripe Dashboard" in text
    assert first_download == "Download dunning (CSV)"


def test_dunning_page_in_yen_and_narrowed(app_as, books_2025):
    at = page(app_as, "finance", "dunning")
    at.selectbox[0].select("jpy").run()
    assert not at.exception
    values = metric_values(at)
    assert values["Amount lost"] == "¥1,500" and values["Lost"] == "1" and values["Recovery rate"] == "0.0%"
    lost = figures(at)["Invoices entering dunning by outcome (JPY)"]["data"][1]
    assert lost["customdata"] == ["¥1,500"]
    charts, _, _ = every_tab(at, "dunning-chart")
    amounts = charts["Amounts recovered and lost (JPY)"]
    assert amounts["layout"]["yaxis"]["tickformat"] == ",.0f" and amounts["data"][1]["y"] == [1500.0]
    # No recovered yen invoice: the charts say so instead of drawing nothing.
    empty = charts["Retry on which recovered invoices were paid (JPY)"]
    assert empty["layout"]["annotations"][0]["text"].startswith("No data")

    at.session_state["dunning-chart"] = "Outcomes"
    at.selectbox[0].select("usd").run()
    at.select_slider[0].set_value(("2025-03", "2025-04")).run()
    values = metric_values(at)
    assert values["Entered dunning"] == "4" and values["Amount lost"] == "$70.00"
    assert values["Amount recovered"] == format_money(1000, "usd")


def test_churn_page_shows_the_hand_worked_figures(app_as, books_2025):
    at = page(app_as, "finance", "churn")
    assert not at.exception
    assert at.selectbox[0].value == "usd"
    # The latest usd month, June: cus_a alone, MRR 10000/12 = 833.33 cents, churned.
    assert metric_values(at) == {
        "Subscribers at month start": "1", "MRR at month start": "$8.33",
        "Logo churn": "100.00%", "MRR churn": "100.00%",
    }  # fmt: skip
    assert list(figures(at)) == ["Logo and MRR churn rate (USD)"]  # one chart at first
    monthly = at.dataframe[0].value
    assert monthly["subscribers_start"].tolist() == [1, 4, 4, 4, 3, 1]
    assert monthly["mrr_start"].tolist() == ["$30.33", "$80.33", "$82.00", "$51.67", "$31.67", "$8.33"]
    charts, _, text = every_tab(at, "churn-chart")
    churned = charts["Churned customers, voluntary and involuntary (USD)"]["data"]
    assert churned[0]["y"] == [0, 1, 1, 0, 2, 0] and churned[1]["y"] == [0, 0, 1, 1, 0, 1]
    mrr = charts["Subscribers and MRR at month start (USD)"]
    assert mrr["data"][1]["customdata"] == ["$30.33", "$80.33", "$82.00", "$51.67", "$31.67", "$8.33"]
    assert mrr["layout"]["yaxis2"]["title"]["text"] == "MRR (USD)"
    assert "Retention by cohort of first paid month (USD)" in charts
    assert "rolling 30-day" in text and "past_due" in text and "trials" in text


def test_churn_page_in_euro(app_as, books_2025):
    at = page(app_as, "finance", "churn")
    at.selectbox[0].select("eur").run()
    # March eur: 2 subscribers, both churned; MRR 2002.5 cents -> 2003 -> €20.03.
    assert metric_values(at) == {
        "Subscribers at month start": "2", "MRR at month start": "€20.03",
        "Logo churn": "100.00%", "MRR churn": "100.00%",
    }  # fmt: skip
    rates = figures(at)["Logo and MRR churn rate (EUR)"]["data"]
    # MRR churned of MRR at the start, and the rate's n: the subscribers at the start.
    assert rates[0]["y"] == [0.0, 1.0] and rates[1]["customdata"][1] == ["€20.03", "€20.03", 2]


def test_pages_with_no_figures_say_so(app_as, console_env):
    Books(Path(console_env["BILLING_DB"])).close()  # schema only, no rows
    for name, message in (("churn", "No paid subscriber yet"), ("dunning", "No invoice has entered dunning")):
        at = page(app_as, "finance", name)
        assert not at.exception
        assert any(message in info.value for info in at.info), name
        assert not at.get("plotly_chart")
