"""The dunning work queue: invoices in dunning now, biggest amount at risk first, per currency.

"In dunning now" is console/rules/dunning.py's rule, the same one the customer search,
the customer page's portal link and the finance tables use. Amounts at risk are never
compared or added across currencies: the queue is ordered within each currency.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pandas as pd

from console.display.money import format_money
from console.display.text import EMPTY, or_empty, printable, utc_text
from console.rules.dunning import (
    LOST_STATUSES,
    RECOVERED_STATUSES,
    invoices_entered_dunning,
)
from console.rules.work import WorkState, shown_in
from console.warehouse.payment_methods import Card, queue_card_expiry

QUEUE_LIMIT_PER_CURRENCY = 500

# Built once per published snapshot (warehouse_views/derived.py; console/warehouse/snapshots.py
# makes it readable here): the queue reads a few thousand rows instead of every attempt.
DUNNING_TABLE = "memory.main.dunning_invoices"


def dunning_queue(
    con: duckdb.DuckDBPyConnection, limit_per_currency: int = QUEUE_LIMIT_PER_CURRENCY
) -> pd.DataFrame:
    """The queue, raw: one row per invoice, the top `limit_per_currency` of each currency.

    Columns: invoice_id, number, customer_id, email, name, deleted, currency, amount_remaining,
    attempt_count, failures, first_failure, next_payment_attempt, last_decline,
    hosted_invoice_url, invoices_in_currency, at_risk_in_currency; then the payment method the
    next retry charges (the subscription's default, else the customer's): pm_type, card_brand,
    card_last4, card_exp_month, card_exp_year, wallet; and renewal (the subscription's current
    period end).
    """
    return con.execute(
        f"""
        WITH queue AS (FROM {DUNNING_TABLE}),
        ranked AS (
            SELECT *, count(*) OVER per_currency AS invoices_in_currency,
                   sum(amount_remaining) OVER per_currency AS at_risk_in_currency
            FROM queue
            WINDOW per_currency AS (PARTITION BY currency)
            QUALIFY row_number() OVER (PARTITION BY currency ORDER BY amount_remaining DESC, id) <= ?
        ),
        renewals AS (
            SELECT subscription_id, max(current_period_end) AS renewal FROM subscription_items
            WHERE subscription_id IN (
                SELECT subscription_id FROM invoices WHERE id IN (SELECT id FROM ranked)
            )
            GROUP BY subscription_id
        )
        SELECT r.id AS invoice_id, r.number, r.customer_id, c.email, c.name,
               coalesce(c.deleted, false) AS deleted, r.currency, r.amount_remaining,
               r.attempt_count, r.failures, r.first_failure,
               r.next_payment_attempt, r.last_decline, r.hosted_invoice_url,
               r.invoices_in_currency, r.at_risk_in_currency,
               pm.type AS pm_type, pm.card_brand, pm.card_last4, pm.card_exp_month, pm.card_exp_year,
               pm.wallet, rn.renewal
        FROM ranked r LEFT JOIN customers c ON c.id = r.customer_id
        LEFT JOIN invoices inv ON inv.id = r.id
        LEFT JOIN subscriptions s ON s.id = inv.subscription_id
        LEFT JOIN payment_methods pm
               ON pm.id = coalesce(s.default_payment_method_id, c.default_payment_method_id)
        LEFT JOIN renewals rn ON rn.subscription_id = inv.subscription_id
        ORDER BY r.currency, r.amount_remaining DESC, r.id
        """,  # noqa: S608 -- only constant SQL is formatted in
        [limit_per_currency],
    ).df()


def currency_summary(queue: pd.DataFrame) -> pd.DataFrame:
    """Per currency: invoices in dunning and the total at risk (never added across currencies)."""
    if queue.empty:
        return pd.DataFrame(columns=["Currency", "Invoices in dunning", "At risk"])
    per = queue.groupby("currency", as_index=False).first()
    per = per.sort_values("invoices_in_currency", ascending=False)
    return pd.DataFrame(
        {
            "Currency": per["currency"].str.upper(),
            "Invoices in dunning": per["invoices_in_currency"].astype(int),
            "At risk": [
                format_money(a, c) for a, c in zip(per["at_risk_in_currency"], per["currency"], strict=True)
            ],
        }
    )


def last_link_per_customer(links: pd.DataFrame) -> dict[str, datetime]:
    """The latest `made_at` per customer of a console.ops.audit.links_made frame."""
    if links.empty:
        return {}
    latest = links.groupby("customer_id")["made_at"].max()
    return {customer: made_at.to_pydatetime() for customer, made_at in latest.items()}


def next_retry_text(next_attempt: datetime | None, now: datetime) -> str:
    """When Stripe retries next: a UTC time, 'retry overdue' when that time has passed,
    'no retry scheduled' when Stripe has none (retries exhausted or off)."""
    if next_attempt is None or pd.isna(next_attempt):
        return "no retry scheduled"
    if next_attempt < now:
        return "retry overdue"
    return utc_text(next_attempt)


def _known(value: object) -> object:
    """None for pandas' missing values (NA, NaT, NaN), which a frame row holds for SQL NULL."""
    return None if pd.isna(value) else value


def customer_text(name: object, email: object, customer_id: str) -> str:
    """Who the customer is, in one cell: their name, else their email, else their id."""
    return printable(name) or printable(email) or customer_id


def queue_table(
    queue: pd.DataFrame,
    links_sent: dict[str, datetime],
    now: datetime,
    states: dict[str, WorkState] | None = None,
) -> pd.DataFrame:
    """The queue as shown: VISIBLE_COLUMNS first (what fits a laptop screen), then the details.

    `links_sent`: when a card-update link was last made per customer (`last_link_per_customer`);
    `states`: saved work states per invoice id (console/ops/work_state.py), absent ones 'new'.
    """
    states = states or {}
    rows = []
    for r in queue.itertuples(index=False):
        sent = links_sent.get(r.customer_id)
        # A link made before this invoice first failed was about something else.
        sent_for_this = sent is not None and sent >= r.first_failure
        card = Card(*(_known(v) for v in (r.pm_type, r.card_brand, r.card_last4, r.card_exp_month,
                                         r.card_exp_year, r.wallet)))  # fmt: skip
        renewal = _known(r.renewal)
        state = states.get(r.invoice_id) or WorkState(r.invoice_id, r.customer_id)
        rows.append(
            {
                "Customer": customer_text(r.name, r.email, r.customer_id),
                "At risk": format_money(r.amount_remaining, r.currency),
                "Days in dunning": (now - r.first_failure).days,
                "Next retry": next_retry_text(r.next_payment_attempt, now),
                "Last decline": or_empty(printable(r.last_decline)),
                "Card expiry": queue_card_expiry(card, now, renewal),
                "Work state": state.text(now.date()),
                "Customer id": r.customer_id,
                "Email": or_empty(printable(r.email)),
                "Invoice": printable(r.number) or r.invoice_id,
                "Invoice id": r.invoice_id,
                "Currency": r.currency.upper(),
                "Attempts": 0 if pd.isna(r.attempt_count) else int(r.attempt_count),
                "Failed attempts": int(r.failures),
                "Card": card.label,
                "Card-update link sent": utc_text(sent) if sent_for_this else EMPTY,
                "Note": or_empty(printable(state.note)),
            }
        )
    return pd.DataFrame(rows, columns=QUEUE_COLUMNS)


def filter_by_work(
    table: pd.DataFrame, states: dict[str, WorkState], filter_name: str, me: str, today: date
) -> pd.DataFrame:
    """The rows of a queue_table the work filter shows (console/rules/work.py)."""
    shown = [
        shown_in(filter_name, states.get(invoice_id) or WorkState(invoice_id, customer_id), me, today)
        for invoice_id, customer_id in zip(table["Invoice id"], table["Customer id"], strict=True)
    ]
    return table[shown].reset_index(drop=True)


# What an agent needs to pick the next item, narrow enough for a 1440-pixel screen.
VISIBLE_COLUMNS = [
    "Customer",
    "At risk",
    "Days in dunning",
    "Next retry",
    "Last decline",
    "Card expiry",
    "Work state",
]
QUEUE_COLUMNS = [
    *VISIBLE_COLUMNS,
    "Customer id",
    "Email",
    "Invoice",
    "Invoice id",
    "Currency",
    "Attempts",
    "Failed attempts",
    "Card",
    "Card-update link sent",
    "Note",
]


# --- history: items that left the queue -------------------------------------------------

HISTORY_DAYS = 30


def resolved_dunning(con: duckdb.DuckDBPyConnection, since: datetime) -> pd.DataFrame:
    """Invoices that entered dunning and were paid, voided or marked uncollectible since `since`.

    Columns: invoice_id, number, customer_id, email, name, currency, amount_due, amount_paid,
    status, first_failure, resolved_at.
    """
    resolved = (*RECOVERED_STATUSES, *LOST_STATUSES)
    marks = ", ".join("?" for _ in resolved)
    return con.execute(
        f"""
        WITH ended AS (
            SELECT d.id, d.number, d.customer_id, d.currency, d.amount_due, d.amount_paid, d.status,
                   d.first_failure, coalesce(i.paid_at, i.voided_at, i.marked_uncollectible_at) AS resolved_at
            FROM ({invoices_entered_dunning(f"status IN ({marks})")}) d
            JOIN invoices i ON i.id = d.id
        )
        SELECT e.id AS invoice_id, e.number, e.customer_id, c.email, c.name, e.currency, e.amount_due,
               e.amount_paid, e.status, e.first_failure, e.resolved_at
        FROM ended e LEFT JOIN customers c ON c.id = e.customer_id
        WHERE e.resolved_at >= ?
        ORDER BY e.resolved_at DESC, e.id
        """,  # noqa: S608 -- the rule's constant SQL and placeholders
        [*resolved, since],
    ).df()


def outcome_text(status: str, resolved_at: datetime | None, link_at: datetime | None) -> str:
    """'paid 2 days after a card-update link', 'paid', 'voided', 'marked uncollectible'."""
    verb = {"paid": "paid", "void": "voided", "uncollectible": "marked uncollectible"}.get(status, status)
    if status == "paid" and link_at is not None and resolved_at is not None and link_at <= resolved_at:
        days = (resolved_at - link_at).days
        when = "the same day as" if days == 0 else f"{days} day{'s' if days != 1 else ''} after"
        return f"{verb} {when} a card-update link"
    return verb


def history_table(
    resolved: pd.DataFrame, links: pd.DataFrame, states: dict[str, WorkState], today: date
) -> pd.DataFrame:
    """Resolved items with their outcome and the work state they ended in.

    `links`: console.ops.audit.links_made of the card-update flow; the latest one made between
    the invoice's first failure and its resolution counts.
    """
    rows = []
    for r in resolved.itertuples(index=False):
        made = links[links["customer_id"] == r.customer_id]["made_at"] if not links.empty else []
        relevant = [t for t in made if r.first_failure <= t <= r.resolved_at]
        state = states.get(r.invoice_id)
        rows.append(
            {
                "Customer": customer_text(r.name, r.email, r.customer_id),
                "Invoice": printable(r.number) or r.invoice_id,
                "Amount": format_money(r.amount_due, r.currency),
                "Outcome": outcome_text(r.status, r.resolved_at, max(relevant) if relevant else None),
                "Resolved": utc_text(r.resolved_at),
                "Work state": state.text(today) if state else EMPTY,
                "Note": or_empty(printable(state.note if state else "")),
                "Customer id": r.customer_id,
            }
        )
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


HISTORY_COLUMNS = [
    "Customer",
    "Invoice",
    "Amount",
    "Outcome",
    "Resolved",
    "Work state",
    "Note",
    "Customer id",
]
