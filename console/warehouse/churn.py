"""Churn per month and currency, and retention by cohort (docs/METRICS.md), from the warehouse.

Every figure is computed set-based in DuckDB and only the small per-month aggregates
reach Python, where MRR is summed exactly and rounded once, at output
(console/rules/mrr.py).

Churn works on "checkpoints": the first instants of the calendar months up to the
current one, numbered by absolute month (console/warehouse/periods.py), followed by
"now" (current month + 1), which stands in for the first instant of the next month
while that month has not begun.

Only the current month's churn depends on "now": `churn_history` computes the rest once
per snapshot and month (at the month's first instant nobody has churned in it yet), and
`churn_month_so_far` adds the month so far from the few subscriptions that can still end
a customer's coverage in it: those who were subscribed at its start without a
subscription that never ends. A subscription's paid-active interval [paid_start, end)
becomes the checkpoint interval [a, b): a is the first checkpoint at or after
paid_start, b the first at or after its end. A customer is a subscriber at checkpoint k
when one of their intervals covers k; merging a customer's intervals per currency
("islands") turns subscriber counts and churn into counting island starts and ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

import duckdb
import pandas as pd

from console.rules.mrr import monthly_amount, round_half_away
from console.warehouse.periods import month_number, month_start, month_text, rate, since_filter, utc_naive

CHURN_COLUMNS = [
    "month",
    "currency",
    "subscribers_start",
    "churned",
    "churned_voluntary",
    "churned_involuntary",
    "logo_churn_rate",
    "mrr_start",
    "mrr_churned",
    "mrr_churn_rate",
]
INVOLUNTARY_REASONS = ("payment_failed", "payment_disputed")


def _checkpoint(column: str) -> str:
    """SQL: the first checkpoint at or after `column`, which must be named `column`_month:
    the month number of (column - 1 µs), plus one, in the inner query (see `_SUBSCRIPTIONS`)."""
    return (
        f"CASE WHEN {column} IS NULL THEN $k + 2 WHEN {column}_month <= $k THEN {column}_month "
        f"WHEN {column} <= $now THEN $k + 1 ELSE $k + 2 END"
    )


def _ceiling_month(column: str) -> str:
    """SQL: number of the first month starting at or after `column` (a month start maps to itself)."""
    shifted = f"({column} - INTERVAL 1 MICROSECOND)"
    return f"year({shifted}) * 12 + month({shifted}) AS {column}_month"


# A subscription's start of paid-active time (after any trial), whether it was ever paid for
# (incomplete ones never were), and the kind of churn its cancellation reason makes.
_PAID_START = (
    "CASE WHEN trial_end IS NOT NULL THEN trial_end ELSE coalesce(start_date, created) END AS paid_start"
)
_PAID = "(status NOT IN ('incomplete', 'incomplete_expired') AND paid_start IS NOT NULL)"
_KIND = f"""CASE WHEN cancellation_reason IN {INVOLUNTARY_REASONS} THEN 'involuntary'
                WHEN cancellation_reason IS NULL OR cancellation_reason = 'cancellation_requested'
                THEN 'voluntary' ELSE 'other' END"""

# Every subscription with its checkpoints: e for its end, a for its paid start when
# it covers at least one checkpoint (NULL otherwise: incomplete ones never paid, one
# that ended before its trial ended has paid_start > end, so a >= e). `kind` sorts
# its cancellation reason into voluntary and involuntary churn; h keys the customer
# and currency for a cheap first grouping.
_SUBSCRIPTIONS = f"""
subs AS MATERIALIZED (
    SELECT id, customer_id, currency, hash(customer_id, currency) AS h, ended_at, paid_start, e,
           {_KIND} AS kind, CASE WHEN {_PAID} AND a < e THEN a END AS a
    FROM (
        SELECT *, {_checkpoint("paid_start")} AS a, {_checkpoint("ended_at")} AS e
        FROM (
            SELECT *, {_ceiling_month("paid_start")}, {_ceiling_month("ended_at")}
            FROM (
                SELECT id, customer_id, currency, status, ended_at, cancellation_reason, {_PAID_START}
                FROM subscriptions
            )
        )
    )
)
"""  # noqa: S608 - composed from constants of this module; values are bound parameters

# Islands: each customer's merged coverage per currency, [a, b), with the kind of the
# last subscription that ended at or before checkpoint b (read when the island's end
# is the customer's churn), the customer's first paid start, and whether it is the
# customer's first island. Most customers have one subscription per currency: one
# GROUP BY on a hash settles them (a hash collision only sends both customers down
# the exact path); only the others are sorted, by their real keys.
_ISLANDS = f"""
{_SUBSCRIPTIONS},
groups AS (
    SELECT h, count(*) AS n, any_value(currency) AS currency, min(a) AS a,
           max(e) FILTER (WHERE a IS NOT NULL) AS b, any_value(kind) AS kind,
           any_value(paid_start) AS first_paid
    FROM subs GROUP BY h
),
multi AS MATERIALIZED (SELECT s.* FROM subs s SEMI JOIN groups g ON g.h = s.h AND g.n > 1),
ordered AS (
    SELECT customer_id, currency, id, a, e AS b,
           max(e) OVER (PARTITION BY customer_id, currency ORDER BY a, e, id
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM multi WHERE a IS NOT NULL
),
numbered AS (
    SELECT customer_id, currency, a, b,
           sum((reach IS NULL OR a > reach)::INT) OVER (PARTITION BY customer_id, currency ORDER BY a, b, id
                                                        ROWS UNBOUNDED PRECEDING) AS island
    FROM ordered
),
merged AS (
    SELECT customer_id, currency, min(a) AS a, max(b) AS b
    FROM numbered GROUP BY customer_id, currency, island
),
merged_kinds AS (
    SELECT i.customer_id, i.currency, i.b, arg_max(m.kind, (m.ended_at, m.id)) AS kind
    FROM merged i
    JOIN multi m ON m.customer_id = i.customer_id AND m.currency = i.currency AND m.e <= i.b
    WHERE i.b <= $k + 1 AND m.ended_at IS NOT NULL
    GROUP BY i.customer_id, i.currency, i.b
),
firsts AS (
    SELECT customer_id, currency, min(paid_start) AS first_paid, min(a) AS first_a
    FROM multi WHERE a IS NOT NULL GROUP BY customer_id, currency
),
islands AS MATERIALIZED (
    SELECT currency, a, b, kind, first_paid, TRUE AS first FROM groups WHERE n = 1 AND a IS NOT NULL
    UNION ALL
    SELECT currency, a, b, kind, first_paid, a = first_a
    FROM merged
    LEFT JOIN merged_kinds USING (customer_id, currency, b)
    JOIN firsts USING (customer_id, currency)
)
"""  # noqa: S608 - composed from constants of this module; values are bound parameters

# One pass, three small results (column `part`): subscriber deltas per checkpoint,
# churned customers per month by kind, and item amounts per price interval (MRR is
# normalised exactly in Python) as deltas and churned amounts per month.
_CHURN_SQL = f"""
WITH {_ISLANDS},
items AS (
    SELECT s.currency, s.a, s.e AS b, p.recurring_interval AS interval,
           coalesce(p.recurring_interval_count, 1) AS interval_count,
           p.unit_amount * si.quantity AS amount
    FROM subs s
    JOIN subscription_items si ON si.subscription_id = s.id
    JOIN prices p ON p.id = si.price_id
    WHERE s.a <= $k AND p.recurring_interval IS NOT NULL
)
SELECT 'subscribers' AS part, currency, NULL AS interval, NULL AS interval_count, k,
       sum(d)::BIGINT AS n1, 0::BIGINT AS n2, 0::BIGINT AS n3
FROM (
    SELECT currency, a AS k, 1 AS d FROM islands WHERE a <= $k
    UNION ALL
    SELECT currency, b AS k, -1 AS d FROM islands WHERE b <= $k
)
GROUP BY currency, k
UNION ALL
SELECT 'churned', currency, NULL, NULL, b - 1,
       count(*)::BIGINT, count_if(kind = 'voluntary')::BIGINT, count_if(kind = 'involuntary')::BIGINT
FROM islands WHERE b <= $k + 1
GROUP BY currency, b
UNION ALL
SELECT 'mrr', currency, interval, interval_count, k, sum(delta)::BIGINT, sum(churned)::BIGINT, 0::BIGINT
FROM (
    SELECT currency, interval, interval_count, a AS k, amount AS delta, 0 AS churned FROM items
    UNION ALL
    SELECT currency, interval, interval_count, b AS k, -amount, 0 FROM items WHERE b <= $k
    UNION ALL
    SELECT currency, interval, interval_count, b - 1 AS k, 0, amount FROM items WHERE b <= $k + 1
)
GROUP BY currency, interval, interval_count, k
"""  # noqa: S608 - composed from constants of this module; values are bound parameters


# The month so far: every subscription of the customers (per currency) who were subscribed
# at the month's first instant ($start) and whose coverage may end within the month (no
# subscription paid for by then runs without end), except those that ended before it.
_MOVERS_SQL = f"""
WITH subs AS MATERIALIZED (
    SELECT id, customer_id, currency, paid_start, ended_at, {_PAID} AS paid, {_KIND} AS kind
    FROM (
        SELECT id, customer_id, currency, status, ended_at, cancellation_reason, {_PAID_START}
        FROM subscriptions
    )
),
movers AS (
    SELECT customer_id, currency FROM subs
    WHERE paid AND paid_start <= $start AND (ended_at IS NULL OR ended_at > $start)
    GROUP BY customer_id, currency HAVING count_if(ended_at IS NULL) = 0
)
SELECT s.customer_id, s.currency, s.id, s.paid, s.paid_start, s.ended_at, s.kind
FROM subs s SEMI JOIN movers m ON m.customer_id = s.customer_id AND m.currency = s.currency
WHERE s.ended_at IS NULL OR s.ended_at > $start
"""  # noqa: S608 - composed from constants of this module; values are bound parameters

# Items of the subscriptions paid-active at the month's first instant that end after it:
# the MRR that churns in the month once they have ended.
_ENDING_ITEMS_SQL = f"""
SELECT s.currency, s.ended_at, p.recurring_interval AS interval,
       coalesce(p.recurring_interval_count, 1)::BIGINT AS interval_count,
       p.unit_amount * si.quantity AS amount
FROM (SELECT id, currency, status, ended_at, {_PAID_START} FROM subscriptions) s
JOIN subscription_items si ON si.subscription_id = s.id
JOIN prices p ON p.id = si.price_id
WHERE {_PAID} AND s.paid_start <= $start AND s.ended_at > $start AND p.recurring_interval IS NOT NULL
  AND p.unit_amount * si.quantity IS NOT NULL
"""  # noqa: S608 - composed from constants of this module; values are bound parameters


@dataclass(frozen=True)
class ChurnHistory:
    """The churn table as of a month's first instant, and what the month so far needs.

    `table`: every month up to `month` (CHURN_COLUMNS); the month's own churn columns are
    still 0. `mrr_start`: its exact MRR at the start, per currency. `movers`, `ending_items`:
    see _MOVERS_SQL and _ENDING_ITEMS_SQL.
    """

    month: str
    table: pd.DataFrame
    mrr_start: dict[str, Fraction]
    movers: pd.DataFrame
    ending_items: pd.DataFrame


def churn_history(conn: duckdb.DuckDBPyConnection, month: str) -> ChurnHistory:
    """What the churn table of any instant of `month` ('YYYY-MM') shares: computed once per
    snapshot and month; `churn_month_so_far` finishes it for an instant."""
    start = month_start(month)
    k = month_number(month)
    # At the month's first instant every later timestamp is after "now": no churn in it yet.
    parts = conn.execute(_CHURN_SQL, {"now": start, "k": k}).df()
    deltas = parts[parts["part"] == "subscribers"].rename(columns={"n1": "delta"})[["currency", "k", "delta"]]
    churned = parts[parts["part"] == "churned"].rename(
        columns={"n1": "churned", "n2": "churned_voluntary", "n3": "churned_involuntary"}
    )[["currency", "k", "churned", "churned_voluntary", "churned_involuntary"]]
    mrr = parts[parts["part"] == "mrr"].rename(columns={"n1": "delta", "n2": "churned"})
    mrr = mrr.astype({"interval_count": "int64"})[
        ["currency", "interval", "interval_count", "k", "delta", "churned"]
    ]

    subscribers = _running_totals(deltas, ["currency"], k)
    table = subscribers.rename(columns={"running": "subscribers_start"})
    table = table[table["subscribers_start"] > 0]
    table = table.merge(churned, on=["currency", "k"], how="left")
    for column in ("churned", "churned_voluntary", "churned_involuntary"):
        table[column] = table[column].fillna(0).astype("int64")

    mrr_start, mrr_churned = _exact_mrr(mrr, k)
    keys = list(zip(table["currency"], table["k"], strict=True))
    starts = [mrr_start.get(key, Fraction(0)) for key in keys]
    ends = [mrr_churned.get(key, Fraction(0)) for key in keys]
    table["logo_churn_rate"] = [
        rate(c, s) for c, s in zip(table["churned"], table["subscribers_start"], strict=True)
    ]
    table["mrr_start"] = pd.Series([round_half_away(v) for v in starts], index=table.index, dtype="int64")
    table["mrr_churned"] = pd.Series([round_half_away(v) for v in ends], index=table.index, dtype="int64")
    table["mrr_churn_rate"] = [rate(c, s) for c, s in zip(ends, starts, strict=True)]
    # astype: an empty table's months would stay integers.
    table["month"] = table["k"].map(month_text).astype(str)
    table = table.sort_values(["month", "currency"])[CHURN_COLUMNS].reset_index(drop=True)
    return ChurnHistory(
        month=month_text(k),
        table=table,
        mrr_start={currency: v for (currency, at), v in mrr_start.items() if at == k},
        movers=conn.execute(_MOVERS_SQL, {"start": start}).df(),
        ending_items=conn.execute(_ENDING_ITEMS_SQL, {"start": start}).df(),
    )


def churn_month_so_far(history: ChurnHistory, now: datetime) -> pd.DataFrame:
    """The churn table at `now`, an instant of `history`'s month: its churn up to now added.

    A customer subscribed at the month's start churns in it when no subscription paid for
    covers `now` (checkpoints: their coverage ends at "now"), of the kind of the last of
    their subscriptions that ended by then.
    """
    now = utc_naive(now)
    if month_text(now.year * 12 + now.month - 1) != history.month:
        raise ValueError(f"{now} is not in {history.month}")
    movers, items = history.movers, history.ending_items
    ended = movers[movers["ended_at"].notna() & (movers["ended_at"] <= now)]
    covering = movers["paid"] & (movers["paid_start"] <= now) & ~(movers["ended_at"] <= now)
    still = movers.loc[covering, ["customer_id", "currency"]].drop_duplicates()
    gone = ended.sort_values(["ended_at", "id"]).drop_duplicates(["customer_id", "currency"], keep="last")
    gone = gone.merge(still, on=["customer_id", "currency"], how="left", indicator=True)
    gone = gone[gone["_merge"] == "left_only"]
    lost = items[items["ended_at"] <= now]
    lost = lost.groupby(["currency", "interval", "interval_count"], as_index=False)["amount"].sum()
    mrr_churned: dict[str, Fraction] = {}
    for currency, interval, count, amount in lost.itertuples(index=False):
        mrr_churned[currency] = mrr_churned.get(currency, Fraction(0)) + monthly_amount(
            amount, interval, count
        )

    table = history.table.copy()
    for at in table.index[table["month"] == history.month]:
        currency = table.at[at, "currency"]
        kinds = gone.loc[gone["currency"] == currency, "kind"]
        churned, start = len(kinds), table.at[at, "subscribers_start"]
        lost_mrr, start_mrr = (
            mrr_churned.get(currency, Fraction(0)),
            history.mrr_start.get(currency, Fraction(0)),
        )
        table.loc[at, ["churned", "churned_voluntary", "churned_involuntary", "mrr_churned"]] = [
            churned,
            int((kinds == "voluntary").sum()),
            int((kinds == "involuntary").sum()),
            round_half_away(lost_mrr),
        ]
        table.loc[at, ["logo_churn_rate", "mrr_churn_rate"]] = [
            rate(churned, start),
            rate(lost_mrr, start_mrr),
        ]
    return table


def churn_table(
    conn: duckdb.DuckDBPyConnection, now: datetime | None = None, since: str | None = None
) -> pd.DataFrame:
    """Churn per month and currency (docs/METRICS.md), one row per month with subscribers.

    Integer columns are int64; rates are floats (NaN when the denominator is 0).
    `now` (default: the current time) closes the current month; `since` ('YYYY-MM')
    keeps months from then on.
    """
    if since is not None:
        month_number(since)
    now = utc_naive(now)
    history = churn_history(conn, month_text(now.year * 12 + now.month - 1))
    return since_filter(churn_month_so_far(history, now), since).reset_index(drop=True)


def _running_totals(deltas: pd.DataFrame, keys: list[str], last: int) -> pd.DataFrame:
    """Per group of `keys`: one row per checkpoint from its first delta to `last`, with the running sum."""
    if deltas.empty:
        return pd.DataFrame(columns=[*keys, "k", "running"]).astype({"k": "int64", "running": "int64"})
    firsts = deltas.groupby(keys, as_index=False)["k"].min()
    firsts["k"] = [range(first, last + 1) for first in firsts["k"]]
    grid = firsts.explode("k").astype({"k": "int64"})
    grid = grid.merge(deltas, on=[*keys, "k"], how="left").sort_values([*keys, "k"])
    grid["running"] = grid["delta"].fillna(0).astype("int64").groupby([grid[k] for k in keys]).cumsum()
    return grid.drop(columns=[c for c in grid.columns if c not in [*keys, "k", "running"]])


def _exact_mrr(mrr: pd.DataFrame, last: int) -> tuple[dict, dict]:
    """Exact MRR at each month start and churned in each month, per (currency, k)."""
    start: dict[tuple[str, int], Fraction] = {}
    churned: dict[tuple[str, int], Fraction] = {}
    if mrr.empty:
        return start, churned
    group = ["currency", "interval", "interval_count"]
    running = _running_totals(mrr[[*group, "k", "delta"]], group, last)
    for currency, interval, count, k, amount in running.itertuples(index=False):
        if amount:
            start[(currency, k)] = start.get((currency, k), Fraction(0)) + monthly_amount(
                amount, interval, count
            )
    lost = mrr[mrr["churned"] != 0]
    for currency, interval, count, k, amount in lost[[*group, "k", "churned"]].itertuples(index=False):
        churned[(currency, k)] = churned.get((currency, k), Fraction(0)) + monthly_amount(
            amount, interval, count
        )
    return start, churned


_COHORT_SQL = f"""
WITH {_ISLANDS},
cohort_islands AS (
    SELECT currency, year(first_paid) * 12 + month(first_paid) - 1 AS cohort, a, b, first FROM islands
),
covered AS (  -- checkpoints after the cohort month that each island covers, as k = checkpoint - cohort
    SELECT currency, cohort, greatest(a, cohort + 1) - cohort AS k0, least(b, $k + 1) - cohort AS k1
    FROM cohort_islands
)
SELECT currency, cohort, k, sum(d)::BIGINT AS delta FROM (
    SELECT currency, cohort, k0 AS k, 1 AS d FROM covered WHERE k0 < k1
    UNION ALL
    SELECT currency, cohort, k1, -1 FROM covered WHERE k0 < k1 AND k1 <= $k - cohort
    UNION ALL
    SELECT currency, cohort, 0, 1 FROM cohort_islands WHERE first  -- month 0: the whole cohort
    UNION ALL
    SELECT currency, cohort, 1, -1 FROM cohort_islands WHERE first AND cohort < $k
)
GROUP BY ALL
"""  # noqa: S608 - composed from constants of this module; values are bound parameters


def churn_cohorts(conn: duckdb.DuckDBPyConnection, now: datetime | None = None) -> pd.DataFrame:
    """Retention by cohort: customers grouped by the month of their first paid start, per currency.

    Columns: currency, cohort ('YYYY-MM'), months_after (k), customers (subscribers at
    the first instant of cohort month + k; k = 0 is the whole cohort), cohort_size, share.
    """
    now = utc_naive(now)
    k_now = now.year * 12 + now.month - 1
    deltas = conn.execute(_COHORT_SQL, {"now": now, "k": k_now}).df()
    columns = ["currency", "cohort", "months_after", "customers", "cohort_size", "share"]
    if deltas.empty:
        return pd.DataFrame(columns=columns)
    grid = deltas.assign(last=k_now - deltas["cohort"])
    # Every cohort spans months_after 0 .. (current month - cohort).
    spans = grid.groupby(["currency", "cohort"], as_index=False)["last"].max()
    spans["k"] = [range(0, last + 1) for last in spans["last"]]
    spans = spans.explode("k").astype({"k": "int64"}).drop(columns="last")
    spans = spans.merge(deltas, on=["currency", "cohort", "k"], how="left").sort_values(
        ["currency", "cohort", "k"]
    )
    spans["customers"] = (
        spans["delta"].fillna(0).astype("int64").groupby([spans["currency"], spans["cohort"]]).cumsum()
    )
    size = spans[spans["k"] == 0].set_index(["currency", "cohort"])["customers"].rename("cohort_size")
    spans = spans.join(size, on=["currency", "cohort"])
    spans["share"] = spans["customers"] / spans["cohort_size"]
    spans["cohort"] = spans["cohort"].map(month_text)
    return spans.rename(columns={"k": "months_after"})[columns].reset_index(drop=True)
