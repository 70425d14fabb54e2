"""Customer search and the customer page's queries.

Search takes one box. A Stripe id (`cus_`, `sub_`, `in_`) or an invoice number finds
its customer exactly; anything else is a substring of the email (case-insensitive) or
of the name (case- and accent-insensitive: "jose" finds "José"). The text is always a
bound parameter.

Speed: substring search cannot use an index, so each snapshot connection builds
`memory.customer_search` once (see console/warehouse/snapshots.py: the sync's table, or built
from warehouse_views/derived.py): one pre-folded search key per customer plus the filter
columns, in the order results are shown (derived.py: but for the few rows the sync appended
since). A search is then a single scan of an in-memory column (about 10 ms on a million
customers). The customer page's queries go through indexes on customer_id (sync/schema.sql); each
first narrows to the customer's rows in a MATERIALIZED step, because DuckDB skips the
index when a top-N sort sits directly on the filtered scan, and names its columns: with
`SELECT *` the payment-attempt lookup was ten times slower.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

import duckdb
import pandas as pd

from console.display.money import format_money
from console.display.text import EMPTY, or_empty, plan_name, printable, utc_text
from console.rules.dunning import invoices_in_dunning
from console.rules.mrr import subscription_mrr, why_no_mrr
from console.warehouse.dunning_queue import DUNNING_TABLE
from console.warehouse.payment_methods import card_of
from warehouse_views.derived import SEARCH_ORDER
from warehouse_views.derived import STATUS_BIT as _STATUS_BIT
from warehouse_views.derived import SUBSCRIPTION_STATUSES as SUBSCRIPTION_STATUSES  # the page's filter

PAGE_SIZE = 50
HISTORY_LIMIT = 200  # invoices and payment attempts shown on the customer page
CUSTOMER_ID = re.compile(r"^cus_[A-Za-z0-9]+$")
# The search box takes ids in any letter case (CUS_..., a caps-locked paste): Stripe's ids are
# case-sensitive, so an exact match is tried first, then a case-insensitive one.
_ANY_CASE_CUSTOMER_ID = re.compile(r"^cus_[A-Za-z0-9]+$", re.IGNORECASE)
_SUBSCRIPTION_ID = re.compile(r"^sub_[A-Za-z0-9]+$", re.IGNORECASE)
_INVOICE_ID = re.compile(r"^in_[A-Za-z0-9]+$", re.IGNORECASE)
# Stripe invoice numbers: a 3-12 character upper-case prefix, a dash, a sequence of 4+ digits.
_INVOICE_NUMBER = re.compile(r"^[A-Za-z0-9]{3,12}-[0-9]{4,}$")
_SEPARATOR = "\x1f"  # between email and name in the search key; never in a folded query


class SearchKind(StrEnum):
    CUSTOMER_ID = "customer id"
    SUBSCRIPTION_ID = "subscription id"
    INVOICE_ID = "invoice id"
    INVOICE_NUMBER = "invoice number"
    TEXT = "email or name"
    ALL = "all customers"


@dataclass(frozen=True)
class SearchKey:
    kind: SearchKind
    value: str

    @property
    def exact(self) -> bool:
        return self.kind not in (SearchKind.TEXT, SearchKind.ALL)


@dataclass(frozen=True)
class SearchResult:
    key: SearchKey
    rows: pd.DataFrame  # display-ready, RESULT_COLUMNS
    total: int
    page: int
    page_count: int

    @property
    def total_text(self) -> str:
        """'1,234', or '10,000+' when the count stopped at the cap."""
        return f"{COUNT_CAP:,}+" if self.total > COUNT_CAP else f"{self.total:,}"


RESULT_COLUMNS = [
    "Customer id",
    "Email",
    "Name",
    "Created (UTC)",
    "Currency",
    "Subscriptions",
    "Delinquent",
    "In dunning",
    "Deleted",
]


def parse_search(text: str) -> SearchKey:
    """What the search box holds: an exact key, a text fragment, or nothing (all customers)."""
    # Control characters cannot be typed on purpose and cannot match the folded key.
    cleaned = "".join(ch for ch in text if ch.isprintable()).strip()
    if not cleaned:
        return SearchKey(SearchKind.ALL, "")
    if _ANY_CASE_CUSTOMER_ID.match(cleaned):
        return SearchKey(SearchKind.CUSTOMER_ID, cleaned)
    if _SUBSCRIPTION_ID.match(cleaned):
        return SearchKey(SearchKind.SUBSCRIPTION_ID, cleaned)
    if _INVOICE_ID.match(cleaned):
        return SearchKey(SearchKind.INVOICE_ID, cleaned)
    if _INVOICE_NUMBER.match(cleaned):
        return SearchKey(SearchKind.INVOICE_NUMBER, cleaned.upper())
    return SearchKey(SearchKind.TEXT, cleaned)


def _statuses_text(mask: int) -> str:
    return ", ".join(status for status, bit in _STATUS_BIT.items() if mask & bit)


def search_customers(
    con: duckdb.DuckDBPyConnection,
    text: str,
    subscription_status: str | None = None,
    dunning_only: bool = False,
    delinquent_only: bool = False,
    currency: str | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> SearchResult:
    """One page of customers matching the search box and filters, newest first.

    Filters narrow text searches and the full list; an exact key (an id or an invoice
    number) finds its customer whatever the filters say. Counts stop at COUNT_CAP.
    """
    key = parse_search(text)
    if key.exact:
        by_id = f"SELECT {_SHOWN} FROM memory.customer_search WHERE id = ?"  # noqa: S608
        found = [
            row
            for customer_id in _customers_with_key(con, key)
            for row in con.execute(by_id, [customer_id]).fetchall()
        ]
        return SearchResult(key, _result_rows(found), len(found), 1, 1)
    # Every word must appear, in any order: "Sato Hina" finds "Hina Sato".
    words = [] if key.kind is SearchKind.ALL else key.value.split()
    where = ["contains(search_key, strip_accents(lower(?)))" for _ in words]
    params: list[object] = list(words)
    if subscription_status:
        where.append("subscription_mask & ? != 0")
        params.append(_STATUS_BIT[subscription_status])
    if dunning_only:
        where.append("in_dunning")
    if delinquent_only:
        where.append("delinquent")
    if currency:
        where.append("currency = ?")
        params.append(currency.lower())
    condition = " AND ".join(where) or "true"
    # The first matches in the order shown, up to the cap, for both the count and the page: the
    # table holds the customers in that order, then the rows the sync appended since (few):
    # the scan of the ordered rows stops at the cap, the appended ones are all read.
    # `condition` holds only the constant fragments above; every value is a parameter.
    sql = f"""
        WITH hits AS MATERIALIZED (
            FROM (
                (SELECT {_SHOWN} FROM memory.customer_search WHERE NOT appended AND {condition} LIMIT ?)
                UNION ALL (SELECT {_SHOWN} FROM memory.customer_search WHERE appended AND {condition})
            ) ORDER BY {SEARCH_ORDER} LIMIT ?
        )
        SELECT (SELECT count(*) FROM hits), * FROM hits ORDER BY {SEARCH_ORDER} LIMIT ? OFFSET ?
    """  # noqa: S608
    page = max(1, page)
    while True:
        hits = [*params, COUNT_CAP + 1, *params, COUNT_CAP + 1]
        rows = con.execute(sql, [*hits, page_size, (page - 1) * page_size]).fetchall()
        if rows or page == 1:
            break
        page = 1  # a page past the end (the list got shorter): start again
    total = rows[0][0] if rows else 0
    page_count = max(1, math.ceil(min(total, COUNT_CAP) / page_size))
    return SearchResult(key, _result_rows([row[1:] for row in rows]), total, page, page_count)


COUNT_CAP = 10_000
_SHOWN = "id, email, name, created, currency, subscription_mask, delinquent, in_dunning, deleted"


def _customers_with_key(con: duckdb.DuckDBPyConnection, key: SearchKey) -> list[str]:
    """The customer ids an exact key names, through the warehouse's indexes."""
    table, column, found = {
        SearchKind.CUSTOMER_ID: ("memory.customer_search", "id", "id"),
        SearchKind.SUBSCRIPTION_ID: ("subscriptions", "id", "customer_id"),
        SearchKind.INVOICE_ID: ("invoices", "id", "customer_id"),
        SearchKind.INVOICE_NUMBER: ("invoices", "number", "customer_id"),
    }[key.kind]
    # Exact first, through the index; only a miss pays for the case-insensitive scan.
    for condition in (f"{column} = ?", f"lower({column}) = lower(?)"):
        sql = f"SELECT DISTINCT {found} FROM {table} WHERE {condition} ORDER BY 1"  # noqa: S608 -- constants
        rows = con.execute(sql, [key.value]).fetchall()
        if rows:
            return [row[0] for row in rows]
    return []


def _result_rows(found: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            (
                cid,
                printable(email),
                printable(name),
                utc_text(created),
                (cur or "").upper(),
                _statuses_text(statuses),
                bool(delinquent),
                bool(in_dunning),
                bool(deleted),
            )
            for cid, email, name, created, cur, statuses, delinquent, in_dunning, deleted in found
        ],
        columns=RESULT_COLUMNS,
    )


def currencies(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Customer currencies present, for the filter."""
    rows = con.execute(
        "SELECT DISTINCT currency FROM memory.customer_search WHERE currency IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


# --- the customer page ------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerProfile:
    id: str
    email: str | None
    name: str | None
    description: str | None
    created: datetime | None
    currency: str | None
    delinquent: bool
    deleted: bool
    livemode: bool | None
    mode_source: str = "the customer record"  # where `livemode` was read: see `customer_profile`

    @property
    def dashboard_url(self) -> str:
        return dashboard_url("customers", self.id, self.livemode)

    @property
    def mode_text(self) -> str:
        """'test', 'live', or 'unknown' (then links take the live dashboard)."""
        return {True: "live", False: "test"}.get(self.livemode, "unknown")

    def with_key_mode(self, api_key: str | None) -> CustomerProfile:
        """The mode of the console's Stripe key, when nothing in the warehouse told it."""
        if self.livemode is not None:
            return self
        return replace(self, livemode=livemode_of_key(api_key), mode_source="the console's Stripe key")


def dashboard_url(path: str, object_id: str, livemode: bool | None) -> str:
    """An object in Stripe's dashboard ('customers', 'invoices', 'payments'): test mode lives under /test/."""
    mode = "test/" if livemode is False else ""
    return f"https://dashboard.stripe.com/{mode}{path}/{object_id}"


def livemode_of_key(api_key: str | None) -> bool | None:
    """True for a live key (sk_live_, rk_live_), False for a test key, None otherwise."""
    if not api_key:
        return None
    if api_key.startswith(("sk_test_", "rk_test_")):
        return False
    if api_key.startswith(("sk_live_", "rk_live_")):
        return True
    return None


# Stripe's hosted invoice pages carry the mode in their token: .../i/acct_.../test_YWNj... or live_...
_URL_MODE_SQL = """
    SELECT CASE WHEN bool_or(contains(hosted_invoice_url, '/live_')) THEN true
                WHEN bool_or(contains(hosted_invoice_url, '/test_')) THEN false END
    FROM invoices WHERE customer_id = ?
"""


def customer_profile(con: duckdb.DuckDBPyConnection, customer_id: str) -> CustomerProfile | None:
    """The customer's record; its mode, when the record has none (the stub the sync writes for a
    deleted customer), is read from their invoices' hosted pages, else from the account's other
    customers when they all agree (one warehouse is one Stripe account and key)."""
    row = con.execute(
        "SELECT id, email, name, description, created, currency, delinquent, deleted, livemode "
        "FROM customers WHERE id = ?",
        [customer_id],
    ).fetchone()
    if row is None:
        return None
    profile = CustomerProfile(*row)
    if profile.livemode is not None:
        return profile
    from_invoices = con.execute(_URL_MODE_SQL, [customer_id]).fetchone()[0]
    if from_invoices is not None:
        return replace(profile, livemode=from_invoices, mode_source="the customer's invoices")
    modes = con.execute(
        "SELECT DISTINCT livemode FROM customers WHERE livemode IS NOT NULL LIMIT 2"
    ).fetchall()
    if len(modes) == 1:
        return replace(profile, livemode=modes[0][0], mode_source="the account's other customers")
    return profile


SUBSCRIPTION_COLUMNS = [
    "Subscription id",
    "Status",
    "Plan",
    "MRR",
    "Current period ends",
    "Trial ends",
    "Cancels at period end",
    "Canceled",
    "Ended",
    "Created",
]


def customer_subscriptions(con: duckdb.DuckDBPyConnection, customer_id: str, now: datetime) -> pd.DataFrame:
    """The customer's subscriptions, newest first, with MRR as docs/METRICS.md defines it.

    MRR shows only for a subscription paid-active at `now` (one that counts toward MRR);
    the others show the dash and why: '— (trial)', '— (ended)'.
    """
    rows = con.execute(
        """
        WITH subs AS MATERIALIZED (
            SELECT id, status, currency, start_date, trial_end, cancel_at_period_end, canceled_at,
                   ended_at, created
            FROM subscriptions WHERE customer_id = ?
        ),
        items AS MATERIALIZED (
            SELECT id, subscription_id, price_id, quantity, current_period_end
            FROM subscription_items WHERE subscription_id IN (SELECT id FROM subs)
        )
        SELECT s.id, s.status,
               list((pr.name, p.nickname, i.price_id) ORDER BY i.id) FILTER (WHERE i.id IS NOT NULL) AS plans,
               list((p.unit_amount, i.quantity, p.recurring_interval, p.recurring_interval_count)
                    ORDER BY i.id) AS items,
               coalesce(s.currency, any_value(p.currency)) AS currency,
               max(i.current_period_end) AS current_period_end, s.start_date,
               s.trial_end, s.cancel_at_period_end, s.canceled_at, s.ended_at, s.created
        FROM subs s
        LEFT JOIN items i ON i.subscription_id = s.id
        LEFT JOIN prices p ON p.id = i.price_id
        LEFT JOIN products pr ON pr.id = p.product_id
        GROUP BY s.id, s.status, s.currency, s.start_date, s.trial_end, s.cancel_at_period_end,
                 s.canceled_at, s.ended_at, s.created
        ORDER BY s.created DESC, s.id
        """,
        [customer_id],
    ).fetchall()
    shown = []
    for (
        sid,
        status,
        plans,
        items,
        cur,
        period_end,
        start_date,
        trial_end,
        at_period_end,
        canceled,
        ended,
        created,
    ) in rows:
        plan = ", ".join(
            plan_name(product, nickname, price_id) for product, nickname, price_id in plans or []
        )
        reason = why_no_mrr(now, status, start_date, trial_end, ended)
        mrr = format_money(subscription_mrr(tuple(item) for item in items), cur)
        shown.append(
            (
                sid,
                status,
                or_empty(printable(plan)),
                f"{EMPTY} ({reason})" if reason else or_empty(mrr),
                or_empty(utc_text(period_end)),
                or_empty(utc_text(trial_end)),
                bool(at_period_end),
                or_empty(utc_text(canceled)),
                or_empty(utc_text(ended)),
                or_empty(utc_text(created)),
            )
        )
    return pd.DataFrame(shown, columns=SUBSCRIPTION_COLUMNS)


INVOICE_COLUMNS = [
    "Number",
    "Invoice id",
    "Status",
    "Amount due",
    "Remaining",
    "Attempts",
    "Next retry",
    "Created",
    "Hosted invoice",
    "Stripe dashboard",
]


def customer_invoices(
    con: duckdb.DuckDBPyConnection,
    customer_id: str,
    livemode: bool | None = None,
    limit: int = HISTORY_LIMIT,
) -> pd.DataFrame:
    """The customer's latest invoices, newest first, each with its page in the Stripe dashboard
    of the customer's mode (`livemode`, from `customer_profile`)."""
    rows = con.execute(
        """
        WITH mine AS MATERIALIZED (
            SELECT id, number, status, currency, amount_due, amount_remaining, attempt_count,
                   next_payment_attempt, created, hosted_invoice_url
            FROM invoices WHERE customer_id = ?
        )
        SELECT * FROM mine ORDER BY created DESC, id LIMIT ?
        """,
        [customer_id, limit],
    ).fetchall()
    return pd.DataFrame(
        [
            (
                or_empty(printable(number)),
                iid,
                status,
                format_money(due, cur),
                format_money(remaining, cur),
                int(attempts or 0),
                or_empty(utc_text(next_attempt) if status == "open" else ""),
                or_empty(utc_text(created)),
                safe_link(url),
                dashboard_url("invoices", iid, livemode),
            )
            for iid, number, status, cur, due, remaining, attempts, next_attempt, created, url in rows
        ],
        columns=INVOICE_COLUMNS,
    )


ATTEMPT_COLUMNS = [
    "When",
    "Invoice",
    "Status",
    "Amount",
    "Card",
    "Failure code",
    "Decline code",
    "Outcome",
    "Message",
    "Charge id",
    "Stripe dashboard",
]


def customer_payment_attempts(
    con: duckdb.DuckDBPyConnection,
    customer_id: str,
    livemode: bool | None = None,
    limit: int = HISTORY_LIMIT,
) -> pd.DataFrame:
    """The payment-attempt timeline of the customer's invoices, newest first, with the card each
    attempt used (as it was then) and the charge's page in the Stripe dashboard."""
    rows = con.execute(
        """
        WITH mine AS MATERIALIZED (SELECT id, number FROM invoices WHERE customer_id = ?),
        attempts AS MATERIALIZED (
            SELECT created, invoice_id, status, amount, currency, failure_code, decline_code, outcome_type,
                   failure_message, id, payment_method_id, card_brand, card_last4, card_exp_month,
                   card_exp_year
            FROM payment_attempts WHERE invoice_id IN (SELECT id FROM mine)
        )
        SELECT a.created, coalesce(m.number, a.invoice_id), a.status, a.amount, a.currency,
               a.failure_code, a.decline_code, a.outcome_type, a.failure_message, a.id,
               pm.type, a.card_brand, a.card_last4, a.card_exp_month, a.card_exp_year, pm.wallet
        FROM attempts a LEFT JOIN mine m ON m.id = a.invoice_id
        LEFT JOIN payment_methods pm ON pm.id = a.payment_method_id
        ORDER BY a.created DESC, a.id LIMIT ?
        """,
        [customer_id, limit],
    ).fetchall()
    return pd.DataFrame(
        [
            (
                or_empty(utc_text(created)),
                printable(invoice),
                status,
                format_money(amount, cur),
                card_of(card).label,
                or_empty(printable(failure)),
                or_empty(printable(decline)),
                or_empty(printable(outcome)),
                or_empty(printable(text)),
                charge,
                dashboard_url("payments", charge, livemode),
            )
            for created, invoice, status, amount, cur, failure, decline, outcome, text, charge, *card in rows
        ],
        columns=ATTEMPT_COLUMNS,
    )


def dunning_invoices_of(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[tuple[str, str]]:
    """(invoice id, 'ABCD-0002 (in_...): $50.00 at risk') of the customer's invoices in dunning now."""
    rows = con.execute(
        f"SELECT id, number, amount_remaining, currency FROM {DUNNING_TABLE} WHERE customer_id = ? "  # noqa: S608
        "ORDER BY created DESC, id",
        [customer_id],
    ).fetchall()
    return [
        (iid, f"{printable(number) or 'no number'} ({iid}): {format_money(left, cur)} at risk")
        for iid, number, left, cur in rows
    ]


# --- what a portal link depends on (console/links/context.py) ----------------------------


def portal_contact(con: duckdb.DuckDBPyConnection, customer_id: str) -> tuple | None:
    """(id, name, email, deleted, preferred_locales) of the customer, or None."""
    return con.execute(
        "SELECT id, name, email, deleted, preferred_locales FROM customers WHERE id = ?", [customer_id]
    ).fetchone()


def latest_invoice_in_dunning(con: duckdb.DuckDBPyConnection, customer_id: str) -> tuple | None:
    """(number, amount_remaining, currency, hosted_invoice_url) of the customer's newest invoice
    in dunning that has a hosted payment page, or None."""
    return con.execute(
        f"""
        SELECT number, amount_remaining, currency, hosted_invoice_url
        FROM ({invoices_in_dunning("customer_id = ?")})
        WHERE hosted_invoice_url IS NOT NULL
        ORDER BY created DESC, id LIMIT 1
        """,  # noqa: S608 -- the rule's constant SQL
        [customer_id],
    ).fetchone()


def subscription_plans(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[tuple]:
    """Per subscription, newest first: id, status, currency, cancel_at_period_end, item count, then
    the first item's id, price id, price nickname, product name, unit amount, currency, interval
    and interval count."""
    return con.execute(
        """
        SELECT s.id, s.status, s.currency, s.cancel_at_period_end, count(si.id) AS items,
               min(si.id), min(si.price_id), min(pr.nickname), min(prod.name), min(pr.unit_amount),
               min(pr.currency), min(pr.recurring_interval), min(pr.recurring_interval_count)
        FROM subscriptions s
        LEFT JOIN subscription_items si ON si.subscription_id = s.id
        LEFT JOIN prices pr ON pr.id = si.price_id
        LEFT JOIN products prod ON prod.id = pr.product_id
        WHERE s.customer_id = ?
        GROUP BY s.id, s.status, s.currency, s.cancel_at_period_end, s.created
        ORDER BY s.created DESC
        """,
        [customer_id],
    ).fetchall()


def recurring_prices(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Active recurring prices: id, nickname, product name, unit amount, currency, interval, count."""
    return con.execute(
        """
        SELECT pr.id, pr.nickname, prod.name, pr.unit_amount, pr.currency, pr.recurring_interval,
               pr.recurring_interval_count
        FROM prices pr LEFT JOIN products prod ON prod.id = pr.product_id
        WHERE coalesce(pr.active, TRUE) AND pr.recurring_interval IS NOT NULL
        ORDER BY prod.name, pr.currency, pr.unit_amount
        """
    ).fetchall()


# A local Stripe-compatible server (the sandbox) serves its hosted pages over plain http.
_LOOPBACK_PREFIXES = ("http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/")


def safe_link(url: str | None) -> str | None:
    """Only https (or loopback http) links are shown as links: a javascript: URL in the data stays dead."""
    if not isinstance(url, str):
        return None
    return url if url.startswith(("https://", *_LOOPBACK_PREFIXES)) else None
