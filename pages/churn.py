"""Logo and MRR churn per month and currency, and retention by cohort (definitions: docs/METRICS.md)."""

import streamlit as st

from console.display.money import format_money
from console.display.tables import people_frame
from console.ui import charts, snapshot_cache
from console.ui.frame import page_frame
from console.ui.widgets import metric_csv_download, month_range
from console.warehouse import churn, periods

frame = page_frame("churn")
settings = frame.settings

now = periods.current_minute()
table = snapshot_cache.read(settings, churn.churn_table, now)
if table.empty:
    st.info("No paid subscriber yet: churn starts with the first month that begins with a subscriber.")
    st.stop()

currency_col, range_col = st.columns([1, 3])
currency = currency_col.selectbox("Currency", periods.currencies(table), format_func=str.upper)
with range_col:
    first, last = month_range(
        "Months (UTC)", periods.months(table, currency), f"subscribers in {currency.upper()}"
    )

shown = periods.narrow(table, currency, first, last)
latest = shown.iloc[-1]
st.caption(
    f"Figures of {latest['month']}" + (" (month so far)" if latest["month"] == now.strftime("%Y-%m") else "")
)
cols = st.columns(4)
cols[0].metric("Subscribers at month start", f"{latest['subscribers_start']:,}")
cols[1].metric("MRR at month start", format_money(latest["mrr_start"], currency))
for col, label, column in (
    (cols[2], "Logo churn", "logo_churn_rate"),
    (cols[3], "MRR churn", "mrr_churn_rate"),
):
    value = latest[column]
    col.metric(label, "n/a" if value != value else f"{value:.2%}")

charts.show(charts.churn_rates(shown, currency), "churn_rates")
charts.show(charts.churned_customers(shown, currency), "churned_customers")
charts.show(charts.subscribers_and_mrr(shown, currency), "subscribers_mrr")
st.subheader("Per month")
st.dataframe(people_frame(shown), hide_index=True)
metric_csv_download(shown, "churn", currency, first, last)

st.header("Retention by cohort")
cohorts = periods.narrow(
    snapshot_cache.read(settings, churn.churn_cohorts, now), currency, first, last, "cohort"
)
charts.show(charts.cohort_heatmap(cohorts, currency), "cohorts")
metric_csv_download(cohorts, "cohorts", currency, first, last)
