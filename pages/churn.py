"""Logo and MRR churn per month and currency, and retention by cohort (definitions: METRICS.md)."""

import streamlit as st

from console import access, charts, freshness, metrics, report, snapshots
from console.money import format_money
from settings import load_settings

access.require_page("churn")
settings = load_settings()
st.title(access.PAGES_BY_KEY["churn"].title)
freshness.render_freshness(settings)

now = metrics.current_minute()
table = snapshots.read(settings, metrics.churn_table, now)
if table.empty:
    st.info("No paid subscriber yet: churn starts with the first month that begins with a subscriber.")
    st.stop()

currency_col, range_col = st.columns([1, 3])
currency = currency_col.selectbox("Currency", metrics.currencies(table), format_func=str.upper)
options = metrics.months(table, currency)
if len(options) > 1:
    first, last = range_col.select_slider("Months (UTC)", options=options, value=(options[0], options[-1]))
else:
    first = last = options[0]
    range_col.caption(f"One month with subscribers in {currency.upper()}: {first}.")

shown = metrics.narrow(table, currency, first, last)
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
st.dataframe(report.people_frame(shown), hide_index=True)
charts.csv_download(shown, "churn", currency, first, last)

st.header("Retention by cohort")
cohorts = metrics.narrow(
    snapshots.read(settings, metrics.churn_cohorts, now), currency, first, last, "cohort"
)
charts.show(charts.cohort_heatmap(cohorts, currency), "cohorts")
charts.csv_download(cohorts, "cohorts", currency, first, last)
