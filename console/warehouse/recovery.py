"""The support team's effect on recovery: invoices in dunning for whose customer a portal
link was made while they were in dunning ("linked"), against the others (docs/METRICS.md).

An invoice is **linked** when a link was made for its customer (console/rules/links.py,
the rows of `console.ops.audit.links_made`) at or after its first failed attempt and at
or before the moment it left dunning: `paid_at` when paid, `voided_at` when void,
`marked_uncollectible_at` when uncollectible, and "now" while it is still open (or when
Stripe gave no time for the transition). A link made earlier was about another invoice;
one made later could not have helped.

The comparison is an estimate, not proof: agents send links to the customers they
think can still pay, so the two groups differ in more than the link.

This module reads the links as a frame from its caller: the ops store is read by
console/ops only.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from console.rules.dunning import LOST_STATUSES, invoices_entered_dunning
from console.warehouse.periods import month_start, rate, utc_naive

RECOVERY_COLUMNS = [
    "month",
    "currency",
    "linked",
    "linked_recovered",
    "linked_lost",
    "linked_recovery_rate",
    "unlinked",
    "unlinked_recovered",
    "unlinked_lost",
    "unlinked_recovery_rate",
]
GROUPS = ("linked", "unlinked")

# Each invoice that entered dunning since $since with the window in which a link counts:
# [first failure, the moment it left dunning], "now" while open or when no time is known.
_RECOVERY_SQL = f"""
WITH dunning AS (
    SELECT d.id, d.customer_id, d.currency, d.status, d.first_failure,
           date_trunc('month', d.first_failure) AS month_start,
           coalesce(CASE d.status WHEN 'paid' THEN i.paid_at WHEN 'void' THEN i.voided_at
                                  WHEN 'uncollectible' THEN i.marked_uncollectible_at END, $now) AS left_at
    FROM ({invoices_entered_dunning()}) d JOIN invoices i ON i.id = d.id
    WHERE d.first_failure >= $since
),
linked AS (
    SELECT DISTINCT d.id
    FROM dunning d JOIN portal_links l ON l.customer_id = d.customer_id
    WHERE l.made_at >= d.first_failure AND l.made_at <= d.left_at
),
marked AS (
    SELECT d.*, l.id IS NOT NULL AS is_linked FROM dunning d LEFT JOIN linked l USING (id)
)
SELECT strftime(month_start, '%Y-%m') AS month, currency,
       count_if(is_linked)::BIGINT AS linked,
       count_if(is_linked AND status = 'paid')::BIGINT AS linked_recovered,
       count_if(is_linked AND status IN {LOST_STATUSES})::BIGINT AS linked_lost,
       count_if(NOT is_linked)::BIGINT AS unlinked,
       count_if(NOT is_linked AND status = 'paid')::BIGINT AS unlinked_recovered,
       count_if(NOT is_linked AND status IN {LOST_STATUSES})::BIGINT AS unlinked_lost
FROM marked
GROUP BY month_start, currency
ORDER BY month_start, currency
"""  # noqa: S608 - composed from constants of console.rules.dunning; values are bound parameters


def recovery_table(
    conn: duckdb.DuckDBPyConnection,
    links: pd.DataFrame,
    now: datetime | None = None,
    since: str | None = None,
) -> pd.DataFrame:
    """Linked and unlinked invoices per month of first failure and currency (docs/METRICS.md).

    `links` is `console.ops.audit.links_made(...)` (customer_id, made_at in naive UTC).
    One row per (month, currency) in which invoices entered dunning; rates are
    recovered / (recovered + lost), NaN when both are 0.
    """
    params = {"now": utc_naive(now), "since": datetime(1, 1, 1) if since is None else month_start(since)}
    conn.register("portal_links", links[["customer_id", "made_at"]])
    try:
        table = conn.execute(_RECOVERY_SQL, params).df()
    finally:
        conn.unregister("portal_links")
    for group in GROUPS:
        recovered, lost = table[f"{group}_recovered"], table[f"{group}_lost"]
        table[f"{group}_recovery_rate"] = [rate(r, r + s) for r, s in zip(recovered, lost, strict=True)]
    return table.astype({"linked_recovery_rate": "float64", "unlinked_recovery_rate": "float64"})[
        RECOVERY_COLUMNS
    ].reset_index(drop=True)


def recovery_summary(table: pd.DataFrame) -> dict[str, int | float]:
    """Totals of a (one-currency) recovery table, each group's rate from its summed counts, and
    the difference linked minus unlinked (NaN when either rate is)."""
    totals: dict[str, int | float] = {}
    for group in GROUPS:
        for part in ("", "_recovered", "_lost"):
            totals[f"{group}{part}"] = int(table[f"{group}{part}"].sum())
        totals[f"{group}_recovery_rate"] = rate(
            totals[f"{group}_recovered"], totals[f"{group}_recovered"] + totals[f"{group}_lost"]
        )
    totals["difference"] = totals["linked_recovery_rate"] - totals["unlinked_recovery_rate"]
    return totals


def comparison(summary: dict[str, int | float]) -> pd.DataFrame:
    """The two groups of a `recovery_summary` side by side: invoices, recovered, lost, recovery_rate."""
    return pd.DataFrame(
        [
            {
                "group": group,
                "invoices": summary[group],
                "recovered": summary[f"{group}_recovered"],
                "lost": summary[f"{group}_lost"],
                "recovery_rate": summary[f"{group}_recovery_rate"],
            }
            for group in GROUPS
        ]
    )
