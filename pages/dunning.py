"""Dunning outcomes per month of first failure and currency (definitions: METRICS.md)."""

import streamlit as st

from console import access, charts, freshness, metrics, report, snapshots
from console.money import format_money
from settings import load_settings

access.require_page("dunning")
settings = load_settings()
st.title(access.PAGES_BY_KEY["dunning"].title)
freshness.render_freshness(settings)

table = snapshots.read(settings, metrics.dunning_table)
if table.empty:
    st.info("No invoice has entered dunning yet: no automatic charge has failed.")
    st.stop()

currency_col, range_col = st.columns([1, 3])
currency = currency_col.selectbox("Currency", metrics.currencies(table), format_func=str.upper)
options = metrics.months(table, currency)
if len(options) > 1:
    first, last = range_col.select_slider(
        "Months of first failure (UTC)", options=options, value=(options[0], options[-1])
    )
else:
    first = last = options[0]
    range_col.caption(f"One month with dunning in {currency.upper()}: {first}.")

shown = metrics.narrow(table, currency, first, last)
totals = metrics.dunning_summary(shown)
rate = totals["recovery_rate"]
counts = st.columns(5)
counts[0].metric("Entered dunning", f"{totals['entered']:,}")
counts[1].metric("Recovered", f"{totals['recovered']:,}")
counts[2].metric("Lost", f"{totals['lost']:,}")
counts[3].metric("Pending", f"{totals['pending']:,}")
counts[4].metric("Recovery rate", "n/a" if rate != rate else f"{rate:.1%}")
amounts = st.columns(5)
amounts[1].metric("Amount recovered", format_money(totals["amount_recovered"], currency))
amounts[2].metric("Amount lost", format_money(totals["amount_lost"], currency))
amounts[3].metric("Amount pending", format_money(totals["amount_pending"], currency))

charts.show(charts.dunning_outcomes(shown, currency), "dunning_outcomes")
charts.show(charts.dunning_amounts(shown, currency), "dunning_amounts")
st.subheader("Per month")
st.dataframe(report.people_frame(shown), hide_index=True)
charts.csv_download(shown, "dunning", currency, first, last)

st.header("Recovered invoices")
recovered = metrics.narrow(snapshots.read(settings, metrics.recoveries), currency, first, last)
attempts = charts.attempt_counts(recovered)
charts.show(charts.recovery_attempts(recovered, currency), "recovery_attempts")
st.dataframe(
    attempts.assign(amount_paid=[format_money(v, currency) for v in attempts["amount_paid"]]), hide_index=True
)
charts.csv_download(attempts, "recovery attempts", currency, first, last)
charts.show(charts.days_to_payment(recovered, currency), "days_to_payment")
charts.csv_download(recovered, "recoveries", currency, first, last)

st.header("Decline codes of first failures")
declines = metrics.narrow(snapshots.read(settings, metrics.first_failure_declines), currency, first, last)
charts.show(charts.decline_codes(declines, currency), "decline_codes")
st.dataframe(declines, hide_index=True)
charts.csv_download(declines, "decline codes", currency, first, last)

st.header("Recovered within 7 days of a portal link")
links = metrics.read_portal_links(settings.ops_db)
portal = metrics.narrow(snapshots.read(settings, metrics.portal_recoveries, links), currency, first, last)
link_col, text_col = st.columns([3, 1])
text_col.markdown(charts.DEFINITIONS["portal_recoveries"])
link_col.metric("Recovered after a portal link", f"{len(portal):,} of {totals['recovered']:,}")
if portal.empty:
    link_col.info("No invoice of this period was paid within 7 days of a portal link.")
else:
    link_col.dataframe(
        portal.assign(amount_paid=[format_money(v, currency) for v in portal["amount_paid"]]), hide_index=True
    )
    charts.csv_download(portal, "portal recoveries", currency, first, last)
