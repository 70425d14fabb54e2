"""Plotly figures of the finance pages, the short definition shown beside each, and their rendering.

Every builder takes frames already narrowed to one currency (money is never summed
across currencies) and returns a figure with a title and axis labels; amounts are
plotted in the currency's main unit and hovers show them formatted for that
currency (console/display/money.py: ¥1,500, $12.34, BHD 1.250). With no rows a builder
returns an empty-state figure that says so.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from console.display.money import format_money, plotly_hover_format, to_major

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
FAILURE_MONTH = "Month of first failed payment (UTC)"
CALENDAR_MONTH = "Month (UTC)"

DEFINITIONS = {
    "dunning_outcomes": (
        "**Entered dunning**: invoices charged automatically with at least one failed payment, counted in "
        "the UTC month of their first failure. **Recovered**: now paid; **lost**: now uncollectible or "
        "void; **pending**: still open. **Recovery rate** = recovered ÷ (recovered + lost); pending ones "
        "are left out, so recent months still move. *Stripe Dashboard*: its recovery figures use rolling "
        "periods and count by payment date, and convert currencies; here each currency stands alone."
    ),
    "dunning_amounts": (
        "**Recovered**: amount paid of recovered invoices. **Lost**: amount remaining of uncollectible "
        "invoices, amount due of void ones. **Pending**: amount remaining of open ones. Minor units as "
        "Stripe sends them, per currency, never converted."
    ),
    "recovery_attempts": (
        "Recovered invoices by the charge attempt that paid them: **1** = the first retry after the first "
        "failure. **Paid without a retry** = paid outside the charge attempts (out of band, a credit, "
        "bank transfer)."
    ),
    "days_to_payment": "Whole days from the first failed payment to the invoice's payment time.",
    "decline_codes": (
        "Decline code of each invoice's first failed attempt (the card network's `decline_code`, else "
        "Stripe's `failure_code`). The share recovered shows which declines retries and emails fix."
    ),
    "portal_recoveries": (
        "Invoices in dunning paid within 7 days after a portal link was sent to their customer (audit log: "
        "links created, emailed or queued after the invoice's first failure). A payment after a link is "
        "not proof the link caused it: read this as an upper bound of the links' effect."
    ),
    "churn_rates": (
        "**Logo churn** = customers subscribed at the first instant of the UTC month and not at the first "
        "instant of the next ÷ those subscribed at the start. **MRR churn** = MRR of the subscriptions "
        "paid-active at the start that are not at the next month's start ÷ MRR at the start. The current "
        "month counts up to now. *Stripe Dashboard*: rolling 30-day windows, currencies converted into one, "
        "MRR after discounts; here calendar months, one currency, list prices before discounts and tax."
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
    "cohorts": (
        "Customers grouped by the UTC month of their first paid day (after any trial); each cell is the "
        "share still subscribed at the first instant of the k-th month after. Month 0 is the whole cohort."
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


def _money_axis(currency: str, what: str = "Amount") -> dict:
    return {"title": {"text": f"{what} ({currency.upper()})"}, "tickformat": plotly_hover_format(currency)}


def _count_axis(title: str, largest: int) -> dict:
    """An axis of whole counts: small ones tick every 1 (Plotly would put ticks at 0.5)."""
    axis = {"title": {"text": title}, "rangemode": "tozero", "tickformat": ",d"}
    return {**axis, "dtick": 1} if largest <= 8 else axis


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


def dunning_outcomes(table: pd.DataFrame, currency: str) -> go.Figure:
    """Stacked bars of recovered / lost / pending invoices per month, recovery rate as a line."""
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
            customdata=_money_texts(table[amount], currency),
            hovertemplate=f"{outcome.capitalize()}: %{{y:,}} invoices (%{{customdata}})<extra></extra>",
        )
    figure.add_scatter(
        x=table["month"],
        y=table["recovery_rate"],
        name="Recovery rate",
        yaxis="y2",
        mode="lines+markers",
        line_color=COLORS["rate"],
        hovertemplate="Recovery rate: %{y:.1%}<extra></extra>",
    )
    figure.update_layout(
        barmode="stack",
        yaxis2={"title": {"text": "Recovery rate"}, "overlaying": "y", "side": "right", "tickformat": ".0%",
                "range": [0, 1.05]},
    )  # fmt: skip
    return _layout(figure, title, FAILURE_MONTH, _count_axis("Invoices", int(table["entered"].max())))


def dunning_amounts(table: pd.DataFrame, currency: str) -> go.Figure:
    """Amounts recovered, lost and pending per month, in the currency's main unit."""
    title = f"Amounts recovered and lost ({currency.upper()})"
    if table.empty:
        return empty_figure(title)
    figure = go.Figure()
    for column, label in (
        ("amount_recovered", "Recovered"),
        ("amount_lost", "Lost"),
        ("amount_pending", "Pending"),
    ):
        figure.add_bar(
            x=table["month"],
            y=_majors(table[column], currency),
            name=label,
            marker_color=COLORS[label.lower()],
            customdata=_money_texts(table[column], currency),
            hovertemplate=f"{label}: %{{customdata}}<extra></extra>",
        )
    figure.update_layout(barmode="group")
    return _layout(figure, title, FAILURE_MONTH, _money_axis(currency))


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
    """First-failure decline codes, most frequent at the top, with the share recovered."""
    title = f"Decline codes of first failures ({currency.upper()})"
    if declines.empty:
        return empty_figure(title)
    counts = declines.groupby("decline_code", as_index=False)[["invoices", "recovered"]].sum()
    counts = counts.sort_values(["invoices", "decline_code"], ascending=[True, False])
    figure = go.Figure()
    figure.add_bar(
        y=counts["decline_code"],
        x=counts["invoices"],
        orientation="h",
        marker_color=COLORS["lost"],
        customdata=(counts["recovered"] / counts["invoices"]).tolist(),
        hovertemplate="%{y}: %{x:,} invoices, %{customdata:.0%} recovered<extra></extra>",
    )
    figure.update_layout(title=title, xaxis={"title": {"text": "Invoices entering dunning"}},
                         yaxis={"title": {"text": "Decline code"}}, margin={"t": 60})  # fmt: skip
    return figure


def churn_rates(table: pd.DataFrame, currency: str) -> go.Figure:
    """Logo churn and MRR churn per month."""
    title = f"Logo and MRR churn rate ({currency.upper()})"
    if table.empty:
        return empty_figure(title)
    figure = go.Figure()
    figure.add_scatter(
        x=table["month"],
        y=table["logo_churn_rate"],
        name="Logo churn",
        mode="lines+markers",
        customdata=table[["churned", "subscribers_start"]].to_numpy(),
        hovertemplate="Logo churn: %{y:.2%} (%{customdata[0]:,} of %{customdata[1]:,})<extra></extra>",
    )
    figure.add_scatter(
        x=table["month"],
        y=table["mrr_churn_rate"],
        name="MRR churn",
        mode="lines+markers",
        customdata=list(
            zip(
                _money_texts(table["mrr_churned"], currency),
                _money_texts(table["mrr_start"], currency),
                strict=True,
            )
        ),
        hovertemplate="MRR churn: %{y:.2%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
    )
    return _layout(figure, title, CALENDAR_MONTH, {"title": {"text": "Churn rate"}, "tickformat": ".1%"})


def churned_customers(table: pd.DataFrame, currency: str) -> go.Figure:
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
            hovertemplate=f"{kind.capitalize()}: %{{y:,}}<extra></extra>",
        )
    figure.update_layout(barmode="stack")
    return _layout(figure, title, CALENDAR_MONTH, _count_axis("Customers", int(table["churned"].max())))


def subscribers_and_mrr(table: pd.DataFrame, currency: str) -> go.Figure:
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
    figure.update_layout(
        yaxis2={**_money_axis(currency, "MRR"), "overlaying": "y", "side": "right", "rangemode": "tozero"}
    )
    largest = int(table["subscribers_start"].max())
    return _layout(figure, title, CALENDAR_MONTH, _count_axis("Subscribers", largest))


def cohort_heatmap(cohorts: pd.DataFrame, currency: str) -> go.Figure:
    """Share of each first-paid-month cohort still subscribed k months later."""
    title = f"Retention by cohort of first paid month ({currency.upper()})"
    if cohorts.empty:
        return empty_figure(title)
    share = cohorts.pivot(index="cohort", columns="months_after", values="share").sort_index()
    customers = cohorts.pivot(index="cohort", columns="months_after", values="customers").reindex_like(share)
    size = cohorts.groupby("cohort")["cohort_size"].first().reindex(share.index)
    figure = go.Figure(
        go.Heatmap(
            z=share.to_numpy(dtype=float),
            x=[str(k) for k in share.columns],
            y=list(share.index),
            zmin=0,
            zmax=1,
            colorscale="Blues",
            colorbar={"title": {"text": "Still subscribed"}, "tickformat": ".0%"},
            customdata=[
                [[c, s] for c in row] for row, s in zip(customers.to_numpy(dtype=float), size, strict=True)
            ],
            hovertemplate=(
                "Cohort %{y}, month %{x}: %{z:.1%} "
                "(%{customdata[0]:,.0f} of %{customdata[1]:,})<extra></extra>"
            ),
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"title": {"text": "Months after the first paid month"}, "type": "category"},
        yaxis={
            "title": {"text": "Cohort (first paid month, UTC)"},
            "type": "category",
            "autorange": "reversed",
        },
        margin={"t": 60},
    )
    return figure


def show(figure: go.Figure, definition: str) -> None:
    """The figure with its definition beside it."""
    chart_col, text_col = st.columns([3, 1])
    chart_col.plotly_chart(figure, width="stretch")
    text_col.markdown(DEFINITIONS[definition])
