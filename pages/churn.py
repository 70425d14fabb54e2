"""Logo and MRR churn per month and currency, and retention by cohort (definitions: docs/METRICS.md)."""

import streamlit as st

from console.display.money import format_money
from console.display.tables import people_frame
from console.ui import charts, snapshot_cache
from console.ui.frame import page_frame
from console.ui.period_picker import choose_period
from console.ui.widgets import metric_csv_download
from console.warehouse import churn, periods

frame = page_frame("churn")
settings = frame.settings

now = periods.current_minute()
# Computed once per snapshot and month; the month so far is added for this minute.
history = snapshot_cache.read(settings, churn.churn_history, periods.month_of(now))
table = churn.churn_month_so_far(history, now)
if table.empty:
    st.info("No paid subscriber yet: churn starts with the first month that begins with a subscriber.")
    st.stop()

period = choose_period("churn", table, "subscribers_start", "Months (UTC)", now)
currency, first, last = period.currency, period.first, period.last
shown = periods.continuous(table, currency, first, last)

# The headline is the last complete month: the current one is only the month so far.
headline = shown[shown["month"] == periods.last_complete(period.months, now)].iloc[0]
partial = headline["month"] == period.partial
st.caption(
    f"Figures of {headline['month']}" + (" (month so far)" if partial else ", the last complete month")
)
cols = st.columns(4)
cols[0].metric("Subscribers at month start", f"{headline['subscribers_start']:,}")
cols[1].metric("MRR at month start", format_money(headline["mrr_start"], currency))
for col, label, column in (
    (cols[2], "Logo churn", "logo_churn_rate"),
    (cols[3], "MRR churn", "mrr_churn_rate"),
):
    value = headline[column]
    col.metric(
        label,
        "n/a" if value != value else f"{value:.2%}",
        help=f"n = {headline['subscribers_start']:,} subscribers",
    )

chart, tab = charts.chosen_tab(
    ["Churn rates", "Churned customers", "Subscribers and MRR", "Retention by cohort"], "churn-chart"
)
with tab:
    if chart == "Churn rates":
        charts.show(charts.churn_rates(shown, currency, period.partial), "churn_rates")
    elif chart == "Churned customers":
        charts.show(charts.churned_customers(shown, currency, period.partial), "churned_customers")
    elif chart == "Subscribers and MRR":
        charts.show(charts.subscribers_and_mrr(shown, currency, period.partial), "subscribers_mrr")
    else:
        cohorts = periods.narrow(
            snapshot_cache.read(settings, churn.churn_cohorts, now), currency, first, last, "cohort"
        )
        charts.show(charts.cohort_heatmap(cohorts, currency, period.months, period.partial), "cohorts")
        metric_csv_download(cohorts, "cohorts", currency, first, last)
st.subheader("Per month")
st.dataframe(people_frame(shown, period.partial), hide_index=True)
# The download holds the report's rows: only months with subscribers (docs/METRICS.md).
metric_csv_download(periods.narrow(table, currency, first, last), "churn", currency, first, last)
