"""Dunning outcomes per month of first failure and currency (definitions: docs/METRICS.md)."""

import streamlit as st

from console.display.money import format_money
from console.display.tables import people_frame
from console.ui import charts, snapshot_cache
from console.ui.frame import page_frame
from console.ui.period_picker import choose_period
from console.ui.widgets import metric_csv_download
from console.warehouse import dunning_outcomes, periods, recovery

frame = page_frame("dunning")
settings = frame.settings

table = snapshot_cache.read(settings, dunning_outcomes.dunning_table)
if table.empty:
    st.info("No invoice has entered dunning yet: no automatic charge has failed.")
    st.stop()

now = periods.current_minute()
# The headline adds up the period: by default it stops at the last complete month.
period = choose_period("dunning", table, "entered", "Months of first failure (UTC)", now, end_complete=True)
currency, first, last = period.currency, period.first, period.last
shown = periods.continuous(table, currency, first, last)
totals = dunning_outcomes.dunning_summary(shown)
rate = totals["recovery_rate"]
settled = totals["recovered"] + totals["lost"]
st.caption(
    f"Invoices whose first payment failed from {first} to {last}"
    + (f"; {period.partial} is the month so far." if period.partial else ".")
)
counts = st.columns(5)
counts[0].metric("Entered dunning", f"{totals['entered']:,}")
counts[1].metric("Recovered", f"{totals['recovered']:,}")
counts[2].metric("Lost", f"{totals['lost']:,}")
counts[3].metric("Pending", f"{totals['pending']:,}")
counts[4].metric("Recovery rate", "n/a" if rate != rate else f"{rate:.1%}", help=f"n = {settled:,} settled")
amounts = st.columns(5)
amounts[1].metric("Amount recovered", format_money(totals["amount_recovered"], currency))
amounts[2].metric("Amount lost", format_money(totals["amount_lost"], currency))
amounts[3].metric("Amount pending", format_money(totals["amount_pending"], currency))

chart, tab = charts.chosen_tab(
    ["Outcomes", "Amounts", "Recovered invoices", "Decline codes", "Portal links"], "dunning-chart"
)
with tab:
    if chart == "Outcomes":
        charts.show(charts.dunning_outcomes(shown, currency, period.partial), "dunning_outcomes")
    elif chart == "Amounts":
        charts.show(charts.dunning_amounts(shown, currency, period.partial), "dunning_amounts")
    elif chart == "Recovered invoices":
        recovered = periods.narrow(
            snapshot_cache.read(settings, dunning_outcomes.recoveries), currency, first, last
        )
        attempts = charts.attempt_counts(recovered)
        charts.show(charts.recovery_attempts(recovered, currency), "recovery_attempts")
        st.dataframe(
            attempts.assign(amount_paid=[format_money(v, currency) for v in attempts["amount_paid"]]),
            hide_index=True,
        )
        metric_csv_download(attempts, "recovery attempts", currency, first, last)
        charts.show(charts.days_to_payment(recovered, currency), "days_to_payment")
        metric_csv_download(recovered, "recoveries", currency, first, last)
    elif chart == "Decline codes":
        declines = periods.narrow(
            snapshot_cache.read(settings, dunning_outcomes.first_failure_declines), currency, first, last
        )
        charts.show(charts.decline_codes(declines, currency), "decline_codes")
        st.dataframe(charts.decline_counts(declines), hide_index=True)
        metric_csv_download(declines, "decline codes", currency, first, last)
    else:
        st.subheader("Recovery with and without a portal link")
        linked = snapshot_cache.read_with_links(settings, recovery.recovery_table, now)
        by_link = periods.continuous(linked, currency, first, last)
        effect = recovery.recovery_summary(by_link)
        difference = effect["difference"]
        st.write(
            "Linked minus unlinked recovery rate: "
            + (
                "n/a (a group has no settled invoice)"
                if difference != difference
                else f"{difference * 100:+.1f} points"
            )
            + f" (linked n = {effect['linked_recovered'] + effect['linked_lost']:,}, unlinked n = "
            f"{effect['unlinked_recovered'] + effect['unlinked_lost']:,} settled invoices). "
            "This is an estimate, not proof that the links caused the difference."
        )
        st.dataframe(people_frame(recovery.comparison(effect)), hide_index=True)
        charts.show(charts.recovery_by_link(by_link, currency, period.partial), "recovery_by_link")
        st.dataframe(people_frame(by_link, period.partial), hide_index=True)
        metric_csv_download(
            periods.narrow(linked, currency, first, last), "recovery by link", currency, first, last
        )

        st.subheader("Recovered within 7 days of a portal link")
        portal = periods.narrow(
            snapshot_cache.read_with_links(settings, dunning_outcomes.portal_recoveries),
            currency,
            first,
            last,
        )
        link_col, text_col = st.columns([3, 1])
        text_col.markdown(charts.DEFINITIONS["portal_recoveries"])
        link_col.metric("Recovered after a portal link", f"{len(portal):,} of {totals['recovered']:,}")
        if portal.empty:
            link_col.info("No invoice of this period was paid within 7 days of a portal link.")
        else:
            link_col.dataframe(
                portal.assign(amount_paid=[format_money(v, currency) for v in portal["amount_paid"]]),
                hide_index=True,
            )
            metric_csv_download(portal, "portal recoveries", currency, first, last)

st.subheader("Per month")
st.dataframe(people_frame(shown, period.partial), hide_index=True)
# The download holds the report's rows: only months in which invoices entered dunning.
metric_csv_download(periods.narrow(table, currency, first, last), "dunning", currency, first, last)
