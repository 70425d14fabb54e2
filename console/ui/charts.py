"""Plotly figures of the finance pages, the short definition shown beside each, and their rendering.

Every builder takes frames already narrowed to one currency (money is never summed
across currencies) and returns a figure with a title and axis labels; amounts are
plotted in the currency's main unit and hovers show them formatted for that
currency (console/display/money.py: ¥1,500, $12.34, BHD 1.250). With no rows a builder
returns an empty-state figure that says so.

Axes: months run without a gap (periods.continuous): a month with nothing measured has
zero counts and no rate point, and rate lines are not joined across it. Rates are drawn
on 0-100% axes with round ticks and every rate's hover gives its n; money axes tick at
round amounts (1, 2 or 5 × 10^k of the main unit). The current month, when shown, is
marked as the month so far: hatched bars, a dotted line to an open marker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from console.display.money import format_money, to_major

COLORS = {
    "recovered": "#2e7d32",
    "lost": "#c62828",
    "pending": "#f9a825",
    "rate": "#1565c0",
    "voluntary": "#6a1b9a",
    "involuntary": "#ef6c00",
    "subscribers": "#90caf9",
    "mrr": "#1565c0",
}
NO_DATA_GREY = "#bdbdbd"
FAILURE_MONTH = "Month of first failed payment (UTC)"
CALENDAR_MONTH = "Month (UTC)"
PARTIAL_NOTE = "hatched or dotted: the month so far"

DEFINITIONS = {
    "dunning_outcomes": (
        "**Entered dunning**: invoices charged automatically with at least one failed payment, counted in "
        "the UTC month of their first failure. **Recovered**: now paid; **lost**: now uncollectible or "
        "void; **pending**: still open. **Recovery rate** = recovered ÷ (recovered + lost), n = recovered + "
        "lost; pending ones are left out, so recent months still move, and a month with none settled has "
        "no rate point. *Stripe Dashboard*: its recovery figures use rolling "
        "periods and count by payment date, and convert currencies; here each currency stands alone."
    ),
    "dunning_amounts": (
        "**Recovered**: amount paid of recovered invoices. **Lost**: amount remaining of uncollectible "
        "invoices, amount due of void ones. **Pending**: amount remaining of open ones. Drawn in the "
        "currency's main unit (dollars, euros, yen), per currency, never converted; hovers give the exact "
        "amount."
    ),
    "recovery_attempts": (
        "Recovered invoices by the charge attempt that paid them: **1** = the first retry after the first "
        "failure. **Paid without a retry** = paid outside the charge attempts (out of band, a credit, "
        "bank transfer)."
    ),
    "days_to_payment": "Whole days from the first failed payment to the invoice's payment time.",
    "decline_codes": (
        "Decline code of each invoice's first failed attempt (the card network's `decline_code`, else "
        "Stripe's `failure_code`), split into invoices now **recovered** (paid) and **not recovered** (lost "
        "or still pending); the hover gives the share recovered of the n invoices with that code: which "
        "declines retries and emails fix."
    ),
    "portal_recoveries": (
        "Invoices in dunning paid within 7 days after a portal link was sent to their customer (audit log: "
        "links created, emailed or queued after the invoice's first failure). A payment after a link is "
        "not proof the link caused it: read this as an upper bound of the links' effect."
    ),
    "churn_rates": (
        "**Logo churn** = customers subscribed at the first instant of the UTC month and not at the first "
        "instant of the next ÷ those subscribed at the start (n). **MRR churn** = MRR of the subscriptions "
        "paid-active at the start that are not at the next month's start ÷ MRR at the start. The current "
        "month counts up to now (dotted). *Stripe Dashboard*: rolling 30-day windows, currencies converted "
        "into one, MRR after discounts; here calendar months, one currency, list prices before discounts "
        "and tax."
    ),
    "churned_customers": (
        "Churned customers split by their last ended subscription: **involuntary** when Stripe canceled it "
        "for a failed or disputed payment, **voluntary** when the customer or an agent canceled it (or no "
        "reason is recorded). `cancel_at_period_end` subscriptions churn when they end, not when scheduled."
    ),
    "subscribers_mrr": (
        "**Subscribers**: customers with a paid-active subscription at the first instant of the month. "
        "Paid-active runs from the end of the trial (or the start, without trial) to the end: **trials do "
        "not count**, **past_due and unpaid subscriptions still count** until Stripe ends them, incomplete "
        "ones never do. **MRR**: unit amount × quantity per item, normalised to a month (year ÷ 12, week × "
        "52 ÷ 12, day × 365 ÷ 12, divided by the interval count). Stripe's MRR also counts past_due "
        "subscriptions but deducts discounts."
    ),
    "recovery_by_link": (
        "**Linked**: invoices in dunning for whose customer a portal link was made (created, emailed, "
        "written, queued, uncertain) between the first failed payment and the moment the invoice left "
        "dunning (paid, voided, marked uncollectible; now while open). **Unlinked**: the others. Each "
        "recovery rate = recovered ÷ (recovered + lost), n = recovered + lost. **An estimate, not proof**: "
        "agents choose whom to send links to, so the two groups differ in more than the link."
    ),
    "cohorts": (
        "Customers grouped by the UTC month of their first paid day (after any trial); each cell is the "
        "share still subscribed at the first instant of the k-th month after (n = the cohort's size). Month "
        "0 is the whole cohort. **Grey**: no data, a month still to come or a month that started no cohort; "
        "0% is white."
    ),
}


def empty_figure(title: str, message: str = "No data for this currency and period.") -> go.Figure:
    figure = go.Figure()
    figure.update_layout(
        title=title,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {"text": message, "showarrow": False, "font": {"size": 16}, "xref": "paper", "yref": "paper"}
        ],
        height=320,
    )
    return figure


def _money_texts(amounts: pd.Series, currency: str) -> list[str]:
    return [format_money(int(v), currency) for v in amounts]


def _majors(amounts: pd.Series, currency: str) -> list[float]:
    return [float(to_major(int(v), currency)) for v in amounts]


def nice_step(largest: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 × 10^k, at least 1) that covers `largest` in about `ticks` steps."""
    if not largest > 0:
        return 1
    raw = largest / ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return max(step, 1)


def _money_axis(currency: str, largest: float, what: str = "Amount") -> dict:
    """An axis in whole round amounts of the currency's main unit, from 0."""
    step = nice_step(largest)
    top = max(step, math.ceil(largest / step) * step)
    return {
        "title": {"text": f"{what} ({currency.upper()})"},
        "tickformat": ",.0f",
        "tick0": 0,
        "dtick": step,
        "range": [0, top],
    }


def _rate_axis(title: str, step: float = 0.1) -> dict:
    """0-100%, ticks every 10 or 25 points; nothing is drawn above 100%."""
    return {"title": {"text": title}, "tickformat": ".0%", "range": [0, 1], "tick0": 0, "dtick": step}


def _gaps(values: pd.Series) -> list[float | None]:
    """Rates with None where nothing was measured: Plotly leaves a gap there (connectgaps=False)."""
    return [None if pd.isna(v) else float(v) for v in values]


def _recovered_of_settled(table: pd.DataFrame, recovered: str, lost: str) -> list[list[int]]:
    """Per month [recovered, n] for a recovery rate's hover, n = recovered + lost."""
    return [[int(r), int(r + s)] for r, s in zip(table[recovered], table[lost], strict=True)]


def _hatched(months: pd.Series, partial: str | None) -> dict:
    """Bar hatching for the month so far."""
    return {"shape": ["/" if m == partial else "" for m in months]}


def _rate_line(
    figure: go.Figure, months: pd.Series, rates: pd.Series, partial: str | None, **trace: object
) -> None:
    """A rate per month, not joined across months without one. The month so far is an open marker
    reached by a dotted line, so a half-month figure does not read as the trend."""
    values = _gaps(rates)
    months = list(months)
    solid = [None if m == partial else v for m, v in zip(months, values, strict=True)]
    figure.add_scatter(x=months, y=solid, mode="lines+markers", connectgaps=False, cliponaxis=False, **trace)
    if partial not in months or values[months.index(partial)] is None:
        return
    at = months.index(partial)
    line = trace.get("line_color")
    if at > 0 and values[at - 1] is not None:
        figure.add_scatter(x=months[at - 1 : at + 1], y=values[at - 1 : at + 1], mode="lines",
                           line={"dash": "dot", "color": line}, hoverinfo="skip", showlegend=False,
                           yaxis=trace.get("yaxis", "y"))  # fmt: skip
    customdata = trace.get("customdata")
    figure.add_scatter(
        x=[partial], y=[values[at]], mode="markers", showlegend=False, cliponaxis=False,
        marker={"symbol": "circle-open", "size": 10, "color": line},
        customdata=None if customdata is None else [list(customdata)[at]],
        hovertemplate=str(trace.get("hovertemplate", "")).replace("<extra>", " (month so far)<extra>"),
        yaxis=trace.get("yaxis", "y"),
    )  # fmt: skip


def _count_axis(title: str, largest: int) -> dict:
    """An axis of whole counts: small ones tick every 1 (Plotly would put ticks at 0.5)."""
    axis = {"title": {"text": title}, "rangemode": "tozero", "tickformat": ",d"}
    return {**axis, "dtick": 1} if largest <= 8 else axis


def _month_title(title: str, partial: str | None) -> str:
    return f"{title}; {PARTIAL_NOTE} ({partial})" if partial else title


def _layout(figure: go.Figure, title: str, xtitle: str, yaxis: dict) -> go.Figure:
    figure.update_layout(
        title=title,
        xaxis={"title": {"text": xtitle}, "type": "category"},
        yaxis=yaxis,
        legend={"orientation": "h", "y": -0.25},
        hovermode="x unified",
        margin={"t": 60},
    )
    return figure


def dunning_outcomes(table: pd.DataFrame, currency: str, partial: str | None = None) -> go.Figure:
    """Stacked bars of recovered / lost / pending invoices per month, recovery rate (n) as a line."""
    title = f"Invoices entering dunning by outcome ({currency.upper()})"
    if table.empty:
        return empty_figure(title)
    figure = go.Figure()
    for outcome, amount in (
        ("recovered", "amount_recovered"),
        ("lost", "amount_lost"),
        ("pending", "amount_pending"),
    ):
        figure.add_bar(
            x=table["month"],
            y=table[outcome],
            name=outcome.capitalize(),
            marker_color=COLORS[outcome],
            marker_pattern=_hatched(table["month"], partial),
            customdata=_money_texts(table[amount], currency),
            hovertemplate=f"{outcome.capitalize()}: %{{y:,}} invoices (%{{customdata}})<extra></extra>",
        )
    _rate_line(
        figure, table["month"], table["recovery_rate"], partial,
        name="Recovery rate", yaxis="y2", line_color=COLORS["rate"],
        customdata=_recovered_of_settled(table, "recovered", "lost"),
        hovertemplate="Recovery rate: %{y:.1%} (%{customdata[0]:,} recovered of n = %{customdata[1]:,} "
        "settled)<extra></extra>",
    )  # fmt: skip
    figure.update_layout(
        barmode="stack", yaxis2={**_rate_axis("Recovery rate (%)", 0.25), "overlaying": "y", "side": "right"}
    )
    return _layout(
        figure,
        title,
        _month_title(FAILURE_MONTH, partial),
        _count_axis("Invoices", int(table["entered"].max())),
    )


def dunning_amounts(table: pd.DataFrame, currency: str, partial: str | None = None) -> go.Figure:
    """Amounts recovered, lost and pending per month, in the currency's main unit."""
    title = f"Amounts recovered and lost ({currency.upper()})"
    if table.empty:
        return empty_figure(title)
    figure = go.Figure()
    columns = (("amount_recovered", "Recovered"), ("amount_lost", "Lost"), ("amount_pending", "Pending"))
    for column, label in columns:
        figure.add_bar(
            x=table["month"],
            y=_majors(table[column], currency),
            name=label,
            marker_color=COLORS[label.lower()],
            marker_pattern=_hatched(table["month"], partial),
            customdata=_money_texts(table[column], currency),
            hovertemplate=f"{label}: %{{customdata}}<extra></extra>",
        )
    figure.update_layout(barmode="group")
    largest = max(float(to_major(int(table[column].max()), currency)) for column, _ in columns)
    return _layout(figure, title, _month_title(FAILURE_MONTH, partial), _money_axis(currency, largest))


def recovery_attempts(recoveries: pd.DataFrame, currency: str) -> go.Figure:
    """Recovered invoices by the attempt that paid them (1 = first retry)."""
    title = f"Retry on which recovered invoices were paid ({currency.upper()})"
    if recoveries.empty:
        return empty_figure(title)
    counts = attempt_counts(recoveries)
    figure = go.Figure()
    figure.add_bar(
        x=counts["attempt"],
        y=counts["invoices"],
        marker_color=COLORS["recovered"],
        customdata=_money_texts(counts["amount_paid"], currency),
        hovertemplate="Retry %{x}: %{y:,} invoices, %{customdata}<extra></extra>",
    )
    xtitle = "Retry that paid (1 = first retry after the first failure)"
    return _layout(figure, title, xtitle, _count_axis("Invoices", int(counts["invoices"].max())))


def attempt_counts(recoveries: pd.DataFrame) -> pd.DataFrame:
    """Recovered invoices and amounts per attempt label ('1', '2', ..., 'paid without a retry')."""
    labels = (
        recoveries["attempt"].astype("object").map(lambda a: "paid without a retry" if pd.isna(a) else str(a))
    )
    counts = recoveries.assign(attempt=labels, order=recoveries["attempt"].fillna(10**6))
    counts = counts.groupby(["order", "attempt"], as_index=False)[["invoices", "amount_paid"]].sum()
    return counts.sort_values("order")[["attempt", "invoices", "amount_paid"]].reset_index(drop=True)


def days_to_payment(recoveries: pd.DataFrame, currency: str) -> go.Figure:
    """Recovered invoices by whole days from the first failure to payment."""
    title = f"Days from first failure to payment ({currency.upper()})"
    if recoveries.empty:
        return empty_figure(title)
    counts = recoveries.groupby("days_to_payment", as_index=False)[["invoices", "amount_paid"]].sum()
    figure = go.Figure()
    figure.add_bar(
        x=counts["days_to_payment"],
        y=counts["invoices"],
        marker_color=COLORS["recovered"],
        customdata=_money_texts(counts["amount_paid"], currency),
        hovertemplate="%{x} days: %{y:,} invoices, %{customdata}<extra></extra>",
    )
    figure.update_layout(title=title, xaxis={"title": {"text": "Days after the first failure"}},
                         yaxis=_count_axis("Invoices", int(counts["invoices"].max())),
                         margin={"t": 60})  # fmt: skip
    return figure


def decline_codes(declines: pd.DataFrame, currency: str) -> go.Figure:
    """First-failure decline codes, most frequent at the top, split into recovered and not, with the
    share recovered (of n) in the hover."""
    title = f"Decline codes of first failures ({currency.upper()})"
    if declines.empty:
        return empty_figure(title)
    counts = decline_counts(declines).iloc[::-1]  # Plotly draws the first category at the bottom
    figure = go.Figure()
    for name, column, color in (
        ("Recovered", "recovered", COLORS["recovered"]),
        ("Not recovered (lost or pending)", "not_recovered", COLORS["lost"]),
    ):
        figure.add_bar(
            y=counts["decline_code"],
            x=counts[column],
            orientation="h",
            name=name,
            marker_color=color,
            customdata=counts[["share_recovered", "invoices"]].to_numpy().tolist(),
            hovertemplate=f"{name}: %{{x:,}} (%{{customdata[0]:.0%}} recovered of n = %{{customdata[1]:,}})"
            "<extra></extra>",
        )
    largest = int(counts["invoices"].max())
    figure.update_layout(title=title, barmode="stack",
                         xaxis=_count_axis("Invoices entering dunning", largest),
                         yaxis={"title": {"text": "Decline code"}, "type": "category"},
                         legend={"orientation": "h", "y": -0.25}, margin={"t": 60})  # fmt: skip
    return figure


def decline_counts(declines: pd.DataFrame) -> pd.DataFrame:
    """Invoices per first decline code, most frequent first: recovered, not recovered, share recovered."""
    counts = declines.groupby("decline_code", as_index=False)[["invoices", "recovered"]].sum()
    counts["not_recovered"] = counts["invoices"] - counts["recovered"]
    counts["share_recovered"] = counts["recovered"] / counts["invoices"]
    return counts.sort_values(["invoices", "decline_code"], ascending=[False, True]).reset_index(drop=True)


def recovery_by_link(table: pd.DataFrame, currency: str, partial: str | None = None) -> go.Figure:
    """Recovery rate per month of invoices with a portal link made while in dunning, and without."""
    title = f"Recovery rate with and without a portal link ({currency.upper()})"
    if table.empty:
        return empty_figure(title)
    figure = go.Figure()
    for group, label, color in (
        ("linked", "Linked", COLORS["recovered"]),
        ("unlinked", "Unlinked", COLORS["rate"]),
    ):
        _rate_line(
            figure, table["month"], table[f"{group}_recovery_rate"], partial,
            name=label, line_color=color,
            customdata=_recovered_of_settled(table, f"{group}_recovered", f"{group}_lost"),
            hovertemplate=f"{label}: %{{y:.1%}} (%{{customdata[0]:,}} recovered of n = %{{customdata[1]:,}} "
            "settled)<extra></extra>",
        )  # fmt: skip
    return _layout(figure, title, _month_title(FAILURE_MONTH, partial), _rate_axis("Recovery rate (%)"))


def churn_rates(table: pd.DataFrame, currency: str, partial: str | None = None) -> go.Figure:
    """Logo churn and MRR churn per month, each hover with its n (subscribers at the start)."""
    title = f"Logo and MRR churn rate ({currency.upper()})"
    if table.empty:
        return empty_figure(title)
    figure = go.Figure()
    _rate_line(
        figure, table["month"], table["logo_churn_rate"], partial,
        name="Logo churn",
        customdata=table[["churned", "subscribers_start"]].to_numpy().tolist(),
        hovertemplate="Logo churn: %{y:.2%} (%{customdata[0]:,} of n = %{customdata[1]:,})<extra></extra>",
    )  # fmt: skip
    _rate_line(
        figure, table["month"], table["mrr_churn_rate"], partial,
        name="MRR churn",
        customdata=[
            [churned, start, n]
            for churned, start, n in zip(
                _money_texts(table["mrr_churned"], currency), _money_texts(table["mrr_start"], currency),
                table["subscribers_start"], strict=True,
            )
        ],
        hovertemplate="MRR churn: %{y:.2%} (%{customdata[0]} of %{customdata[1]}; n = %{customdata[2]:,} "
        "subscribers)<extra></extra>",
    )  # fmt: skip
    return _layout(figure, title, _month_title(CALENDAR_MONTH, partial), _rate_axis("Churn rate (%)"))


def churned_customers(table: pd.DataFrame, currency: str, partial: str | None = None) -> go.Figure:
    """Churned customers per month, voluntary and involuntary stacked."""
    title = f"Churned customers, voluntary and involuntary ({currency.upper()})"
    if table.empty:
        return empty_figure(title)
    figure = go.Figure()
    for kind in ("voluntary", "involuntary"):
        figure.add_bar(
            x=table["month"],
            y=table[f"churned_{kind}"],
            name=kind.capitalize(),
            marker_color=COLORS[kind],
            marker_pattern=_hatched(table["month"], partial),
            hovertemplate=f"{kind.capitalize()}: %{{y:,}} customers<extra></extra>",
        )
    figure.update_layout(barmode="stack")
    largest = int(table["churned"].max())
    return _layout(figure, title, _month_title(CALENDAR_MONTH, partial), _count_axis("Customers", largest))


def subscribers_and_mrr(table: pd.DataFrame, currency: str, partial: str | None = None) -> go.Figure:
    """Subscribers (bars) and MRR (line, right axis) at each month's start."""
    title = f"Subscribers and MRR at month start ({currency.upper()})"
    if table.empty:
        return empty_figure(title)
    figure = go.Figure()
    figure.add_bar(
        x=table["month"],
        y=table["subscribers_start"],
        name="Subscribers",
        marker_color=COLORS["subscribers"],
        hovertemplate="Subscribers: %{y:,}<extra></extra>",
    )
    figure.add_scatter(
        x=table["month"],
        y=_majors(table["mrr_start"], currency),
        name="MRR",
        yaxis="y2",
        mode="lines+markers",
        line_color=COLORS["mrr"],
        customdata=_money_texts(table["mrr_start"], currency),
        hovertemplate="MRR: %{customdata}<extra></extra>",
    )
    largest = float(to_major(int(table["mrr_start"].max()), currency))
    figure.update_layout(yaxis2={**_money_axis(currency, largest, "MRR"), "overlaying": "y", "side": "right"})
    largest = int(table["subscribers_start"].max())
    # Both figures are at the month's first instant, so the current month's are complete.
    return _layout(figure, title, CALENDAR_MONTH, _count_axis("Subscribers", largest))


def cohort_heatmap(
    cohorts: pd.DataFrame, currency: str, months: list[str], partial: str | None = None
) -> go.Figure:
    """Share of each first-paid-month cohort still subscribed k months later, a row for every month of
    `months`. Cells without data (months to come, months with no cohort) are grey, not 0%."""
    title = f"Retention by cohort of first paid month ({currency.upper()})"
    if cohorts.empty:
        return empty_figure(title)
    share = cohorts.pivot(index="cohort", columns="months_after", values="share").reindex(months)
    customers = cohorts.pivot(index="cohort", columns="months_after", values="customers").reindex_like(share)
    size = cohorts.groupby("cohort")["cohort_size"].first().reindex(share.index).fillna(0)
    labels = [f"{m} (month so far)" if m == partial else m for m in share.index]
    figure = go.Figure(
        go.Heatmap(
            z=[[None if pd.isna(v) else float(v) for v in row] for row in share.to_numpy(dtype=float)],
            x=[str(k) for k in share.columns],
            y=labels,
            zmin=0,
            zmax=1,
            colorscale="Blues",
            hoverongaps=False,
            xgap=1,
            ygap=1,
            colorbar={"title": {"text": "Still subscribed"}, "tickformat": ".0%", "tick0": 0, "dtick": 0.25},
            customdata=[
                [[c, s] for c in row] for row, s in zip(customers.to_numpy(dtype=float), size, strict=True)
            ],
            hovertemplate=(
                "Cohort %{y}, month %{x}: %{z:.1%} "
                "(%{customdata[0]:,.0f} of n = %{customdata[1]:,.0f})<extra></extra>"
            ),
        )
    )
    # A legend entry for the grey cells: no data is not 0% (white).
    figure.add_scatter(x=[None], y=[None], mode="markers", name="No data (month to come or no cohort)",
                       marker={"symbol": "square", "size": 14, "color": NO_DATA_GREY})  # fmt: skip
    figure.update_layout(
        title=title,
        plot_bgcolor=NO_DATA_GREY,
        showlegend=True,
        legend={"orientation": "h", "y": -0.2},
        xaxis={"title": {"text": "Months after the first paid month"}, "type": "category", "showgrid": False},
        yaxis={
            "title": {"text": "Cohort (first paid month, UTC)"},
            "type": "category",
            "autorange": "reversed",
            "showgrid": False,
        },
        margin={"t": 60},
    )
    return figure


def chosen_tab(labels: Sequence[str], key: str) -> tuple[str, DeltaGenerator]:
    """Tabs of which only the chosen one is computed and drawn: the label and container of the open tab.

    A browser draws every Plotly chart it receives before it shows the page's first one, so
    the pages send one chart at first; choosing a tab reruns the page (its queries are cached).
    """
    tabs = st.tabs(list(labels), key=key, on_change="rerun")
    return next((label, tab) for label, tab in zip(labels, tabs, strict=True) if tab.open)


def show(figure: go.Figure, definition: str) -> None:
    """The figure with its definition beside it."""
    chart_col, text_col = st.columns([3, 1])
    chart_col.plotly_chart(figure, width="stretch")
    text_col.markdown(DEFINITIONS[definition])
