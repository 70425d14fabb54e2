"""Dunning outcomes per month of first failure and currency (definitions: docs/METRICS.md)."""

import streamlit as st

from console import ops
from console.display.money import format_money
from console.display.tables import people_frame
from console.ops import audit
from console.ui import charts, snapshot_cache
from console.ui.frame import page_frame
from console.ui.widgets import metric_csv_download, month_range
from console.warehouse import dunning_outcomes, periods

frame = page_frame("dunning")
settings = frame.settings

table = snapshot_cache.read(settings, dunning_outcomes.dunning_table)
if table.empty:
    st.info("No invoice has entered dunning yet: no automatic charge has failed.")
    st.stop()

currency_col, range_col = st.columns([1, 3])
currency = currency_col.selectbox("Currency", periods.currencies(table), format_func=str.upper)
with range_col:
    first, last = month_range(
        "Months of first failure (UTC)", periods.months(table, currency), f"dunning in {currency.upper()}"
    )

shown = periods.narrow(table, currency, first, last)
totals = dunning_outcomes.dunning_summary(shown)
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
st.dataframe(people_frame(shown), hide_index=True)
metric_csv_download(shown, "dunning", currency, first, last)

st.header("Recovered invoices")
recovered = periods.narrow(snapshot_cache.read(settings, dunning_outcomes.recoveries), currency, first, last)
attempts = charts.attempt_counts(recovered)
charts.show(charts.recovery_attempts(recovered, currency), "recovery_attempts")
st.dataframe(
    attempts.assign(amount_paid=[format_money(v, currency) for v in attempts["amount_paid"]]), hide_index=True
)
metric_csv_download(attempts, "recovery attempts", currency, first, last)
charts.show(charts.days_to_payment(recovered, currency), "days_to_payment")
metric_csv_download(recovered, "recoveries", currency, first, last)

st.header("Decline codes of first failures")
declines = periods.narrow(
    snapshot_cache.read(settings, dunning_outcomes.first_failure_declines), currency, first, last
)
charts.show(charts.decline_codes(declines, currency), "decline_codes")
st.dataframe(declines, hide_index=True)
metric_csv_download(declines, "decline codes", currency, first, last)

st.header("Recovered within 7 days of a portal link")
links = audit.links_made(ops.store_for(settings.ops_db))
portal = periods.narrow(
    snapshot_cache.read(settings, dunning_outcomes.portal_recoveries, links), currency, first, last
)
link_col, text_col = st.columns([3, 1])
text_col.markdown(charts.DEFINITIONS["portal_recoveries"])
link_col.metric("Recovered after a portal link", f"{len(portal):,} of {totals['recovered']:,}")
if portal.empty:
    link_col.info("No invoice of this period was paid within 7 days of a portal link.")
else:
    link_col.dataframe(
        portal.assign(amount_paid=[format_money(v, currency) for v in portal["amount_paid"]]), hide_index=True
    )
    metric_csv_download(portal, "portal recoveries", currency, first, last)
