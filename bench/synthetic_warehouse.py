"""A large synthetic warehouse built directly in DuckDB, for the console benchmarks.

Going through the sandbox and the sync would take hours for a million customers, so
the rows are made here with set-based SQL: every "random" choice is a hash of the
row's index and a salt, which keeps the build deterministic, parallel and fast. The
schema is the sync's own (sync/schema.sql, indexes included), and the shape follows
what the sync writes: rows in roughly `created` order (a backfill loads time windows),
a customer's invoices spread over the table, one subscription item per subscription,
one payment attempt per charge.

Distributions: currencies usd 55% / eur 20% / gbp 15% / jpy 10%; names and emails
from the sandbox's international name lists (accents, apostrophes, markup); about
1.2 subscriptions per customer (monthly 80%, yearly 20%, trials, churn); about ten
invoices per customer; about 6% of automatically collected invoices had a failed
attempt, and about 3% of customers are in dunning now.
"""

# SQL in this module is assembled from its own constants and integers, never from input.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from sandbox.generate import local_amount
from sandbox.people import DOMAINS, FIRST, LAST, TRICKY_NAMES
from warehouse_views import derived

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "data" / "bench"
SCHEMA = ROOT / "sync" / "schema.sql"
# Bump when the generator changes, so that cached warehouses are rebuilt.
GENERATOR_VERSION = 2  # 2: invoices and payment attempts clustered by customer
HISTORY_MONTHS = 44
# Languages of customers billed in each currency (names come from sandbox.people).
MARKET_LANGUAGES = {
    "usd": ["en", "en", "es"],
    "eur": ["fr", "de", "es", "it", "nl"],
    "gbp": ["en"],
    "jpy": ["ja"],
}
# tier, product name, monthly price in USD cents, per seat
TIERS = [("starter", "Starter", 1200, False), ("pro", "Pro", 4900, False),
         ("business", "Business", 14900, False), ("team", "Team", 1500, True)]  # fmt: skip
INDEX_STATEMENT = re.compile(r"CREATE\s+(?:UNIQUE\s+)?INDEX\b[^;]*;", re.IGNORECASE)
TABLE_START = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def deferred_schema(schema: str) -> tuple[str, list[str]]:
    """The schema without its keys and indexes, and the statements that add them back.

    Appending ten million rows to a table with a primary key updates the index row by
    row; adding the key to the loaded table builds it in bulk, several times faster,
    and ends in the same state.
    """
    indexes = INDEX_STATEMENT.findall(schema)
    tables, keys, table = [], [], None
    for line in INDEX_STATEMENT.sub("", schema).splitlines():
        if start := TABLE_START.search(line):
            table = start.group(1)
        code = line.split("--", 1)[0]
        if table and re.search(r"\bPRIMARY\s+KEY\b", code, re.IGNORECASE):
            column = code.split()[0]
            keys.append(f"ALTER TABLE {table} ADD PRIMARY KEY ({column});")
            line = re.sub(r"\s+PRIMARY\s+KEY\b", "", line, flags=re.IGNORECASE)
        tables.append(line)
    return "\n".join(tables), keys + indexes


def schema_digest() -> str:
    return hashlib.sha256(SCHEMA.read_bytes()).hexdigest()[:10]


def cached_warehouse(customers: int, seed: int = 1, cache: Path = CACHE) -> Path:
    """The path of a built warehouse of `customers` customers, building it on first use.

    Cached under data/bench/, keyed by size, seed, generator version and the schema's
    digest (a schema change by the sync rebuilds it).
    """
    path = (
        cache
        / f"warehouse-{customers}-s{seed}-g{GENERATOR_VERSION}-{schema_digest()}-{derived.DIGEST[:6]}.duckdb"
    )
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".building")
        for leftover in (partial, partial.with_name(partial.name + ".wal")):
            leftover.unlink(missing_ok=True)
        build_warehouse(partial, customers, seed=seed)
        os.replace(partial, path)
    return path


def mark_fresh(path: Path, now: datetime | None = None) -> None:
    """Record a sync run that just finished, so the console sees fresh data."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "INSERT INTO sync_runs BY NAME SELECT coalesce(max(id), 0) + 1 AS id, "
            "?::TIMESTAMP - INTERVAL 3 MINUTE AS started_at, ? AS finished_at, 'incremental' AS mode, "
            "'succeeded' AS status, '{}' AS objects, 0 AS events, 1 AS requests FROM sync_runs",
            [now, now],
        )


def build_warehouse(path: Path, customers: int, seed: int = 1, now: datetime | None = None) -> dict[str, int]:
    """Build a warehouse of `customers` customers at `path`; returns the row count per table."""
    now = (now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    tables, keys_and_indexes = deferred_schema(SCHEMA.read_text())
    with duckdb.connect(str(path)) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(tables)
        _macros(con, seed, now)
        _catalog(con, now)
        _customers(con, customers)
        _subscriptions(con, customers)
        _invoices(con)
        _sync_history(con)
        for statement in keys_and_indexes:
            con.execute(statement)
        # As the sync publishes it: with the console's derived tables built once.
        derived.build(con, "main")
        con.execute(
            "INSERT OR REPLACE INTO sync_state VALUES (?, ?, ?)", [derived.STATE_NAME, derived.DIGEST, now]
        )
        con.execute("CHECKPOINT")
        return {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("customers", "subscriptions", "subscription_items", "invoices", "payment_attempts")
        }


def _macros(con: duckdb.DuckDBPyConnection, seed: int, now: datetime) -> None:
    con.execute(f"SET VARIABLE now = TIMESTAMP '{now.isoformat(sep=' ')}'")
    # u(key, salt): a uniform number in [0, 1), a pure function of its arguments.
    con.execute(f"CREATE TEMP MACRO u(k, salt) AS (hash(k, salt, {int(seed)}) % 1000003)::DOUBLE / 1000003")
    con.execute(f"CREATE TEMP MACRO pick(k, salt, n) AS (hash(k, salt, {int(seed)}) % n)::BIGINT")
    # A Stripe-looking id: a hashed part (ids carry no order) and the index (unique).
    con.execute(
        f"CREATE TEMP MACRO sid(prefix, k, width) AS prefix "
        f"|| lpad(to_base((hash(k, prefix, {int(seed)}) % 2821109907456)::BIGINT, 36), 8, '0') "
        f"|| lpad(to_base(k, 36), width, '0')"
    )


def _catalog(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    product_rows, price_rows = [], []
    for t, (key, name, monthly, _) in enumerate(TIERS):
        product_rows.append(f"('prod_bench{key}', '{name}', true, TIMESTAMP '2020-01-01')")
        for currency in MARKET_LANGUAGES:
            for interval, factor in (("month", 1), ("year", 10)):
                amount = local_amount(monthly, currency) * factor
                price_rows.append(
                    f"('price_bench{key}{currency}{interval}', 'prod_bench{key}', '{name} {interval}ly', "
                    f"'{currency}', {amount}, '{interval}', 1, true, TIMESTAMP '2020-01-01', {t})"
                )
    con.execute(
        f"INSERT INTO products BY NAME SELECT * FROM (VALUES {', '.join(product_rows)}) "
        "AS p(id, name, active, created)"
    )
    con.execute(
        "CREATE TEMP TABLE price_list AS SELECT * FROM (VALUES "
        + ", ".join(price_rows)
        + ") AS p(id, product_id, nickname, currency, unit_amount, recurring_interval, "
        "recurring_interval_count, active, created, tier)"
    )
    con.execute("INSERT INTO prices BY NAME SELECT * EXCLUDE (tier) FROM price_list")


def _customers(con: duckdb.DuckDBPyConnection, n: int) -> None:
    languages = sorted({lang for langs in MARKET_LANGUAGES.values() for lang in langs})
    con.execute(
        "CREATE TEMP TABLE lang AS SELECT * FROM (VALUES "
        + ", ".join(f"('{lang}', {_sql_list(FIRST[lang])}, {_sql_list(LAST[lang])})" for lang in languages)
        + ") AS l(lang, firsts, lasts)"
    )
    con.execute(
        "CREATE TEMP TABLE market AS SELECT * FROM (VALUES "
        + ", ".join(f"('{c}', {_sql_list(langs)})" for c, langs in MARKET_LANGUAGES.items())
        + ") AS m(currency, langs)"
    )
    companies = _sql_list(["Labs", "GmbH", "S.A.", "Ltd", "& Co.", "Studio", "SARL", "B.V.", "K.K.", "Inc."])
    # Customers arrive faster over time (created grows like sqrt of the index), in
    # created order as a backfill by time windows writes them.
    con.execute(
        f"""
        CREATE TEMP TABLE cust AS
        WITH base AS (
            SELECT i,
                   CASE WHEN u(i, 'cur') < 0.55 THEN 'usd' WHEN u(i, 'cur') < 0.75 THEN 'eur'
                        WHEN u(i, 'cur') < 0.90 THEN 'gbp' ELSE 'jpy' END AS currency,
                   getvariable('now') - INTERVAL {HISTORY_MONTHS} MONTH
                     + to_seconds(((epoch(getvariable('now')) - epoch(getvariable('now')
                         - INTERVAL {HISTORY_MONTHS} MONTH)) * sqrt((i + 0.5) / {n}))::BIGINT) AS created
            FROM range({n}) AS r(i)
        ), named AS (
            SELECT b.*, l.lang,
                   l.firsts[1 + pick(i, 'first', len(l.firsts))] AS first,
                   l.lasts[1 + pick(i, 'last', len(l.lasts))] AS last
            FROM base b JOIN market m USING (currency)
            JOIN lang l ON l.lang = m.langs[1 + pick(b.i, 'lang', len(m.langs))]
        )
        SELECT *,
               sid('cus_', i, 6) AS id,
               upper(lpad(to_base((hash(i, 'prefix') % 2821109907456)::BIGINT, 36), 8, '0'))
                 AS invoice_prefix,
               CASE WHEN u(i, 'name') < 0.004
                    THEN {_sql_list(TRICKY_NAMES)}[1 + pick(i, 'tricky', {len(TRICKY_NAMES)})]
                    WHEN u(i, 'name') < 0.12 THEN last || ' ' || {companies}[1 + pick(i, 'co', 10)]
                    ELSE first || ' ' || last END AS name,
               regexp_replace(strip_accents(lower(first)), '[^a-z]', '', 'g') || '.'
                 || regexp_replace(strip_accents(lower(last)), '[^a-z]', '', 'g')
                 || CASE WHEN u(i, 'plus') < 0.08 THEN '+billing' ELSE '' END
                 || i || '@' || {_sql_list(DOMAINS)}[1 + pick(i, 'domain', {len(DOMAINS)})] AS email,
               u(i, 'dunning') < 0.04 AS dunning,
               u(i, 'deleted') < 0.01 AS leaves
        FROM named
        ORDER BY i
        """
    )


def _subscriptions(con: duckdb.DuckDBPyConnection, n: int) -> None:
    second = n // 5
    # Subscription j < n is customer j's first; j >= n a second one of customer
    # (j - n) * 7919 mod n (a permutation, so nobody gets three).
    con.execute(
        f"""
        CREATE TEMP TABLE sub AS
        WITH base AS (
            SELECT j,
                   CASE WHEN j < {n} THEN j ELSE ((j - {n}) * 7919) % {n} END AS i,
                   (j >= {n})::INT AS rank
            FROM range({n + second}) AS r(j)
        ), shaped AS (
            SELECT b.j, b.rank, c.i, c.id AS customer_id, c.currency, c.email, c.invoice_prefix,
                   c.dunning AND b.rank = 0 AS dunning, c.leaves,
                   CASE WHEN b.rank = 0 THEN c.created + to_seconds(pick(b.j, 'lag', 7 * 86400))
                        ELSE c.created + to_seconds((u(b.j, 'lag2')
                             * (epoch(getvariable('now')) - epoch(c.created)))::BIGINT) END AS start_date,
                   CASE WHEN u(b.j, 'interval') < 0.8 THEN 'month' ELSE 'year' END AS interval,
                   u(b.j, 'trial') < 0.3 AS trial,
                   CASE WHEN u(b.j, 'tier') < 0.4 THEN 0 WHEN u(b.j, 'tier') < 0.7 THEN 1
                        WHEN u(b.j, 'tier') < 0.85 THEN 2 ELSE 3 END AS tier,
                   u(b.j, 'incomplete') < 0.005 AS incomplete,
                   u(b.j, 'churn') AS churn_draw,
                   CASE WHEN u(b.j, 'reason') < 0.72 THEN 'cancellation_requested'
                        WHEN u(b.j, 'reason') < 0.97 THEN 'payment_failed' ELSE NULL END AS reason
            FROM base b JOIN cust c USING (i)
        ), timed AS (
            SELECT s.* REPLACE (dunning AND interval = 'month' AND NOT incomplete
                                AND start_date < getvariable('now') - INTERVAL 20 DAY AS dunning),
                   CASE WHEN trial THEN start_date + INTERVAL 14 DAY ELSE start_date END AS paid_start,
                   -- Periods until a voluntary or involuntary end: geometric, 3.5% a month, 12% a year.
                   greatest(1, ceil(ln(1 - churn_draw)
                                    / ln(CASE WHEN interval = 'month' THEN 0.965 ELSE 0.88 END)))::BIGINT
                     AS lifetime
            FROM shaped s
        ), ended AS (
            SELECT t.*,
                   CASE WHEN incomplete THEN start_date + INTERVAL 23 HOUR
                        WHEN interval = 'month' THEN paid_start + to_months(lifetime)
                        ELSE paid_start + to_years(lifetime) END AS natural_end
            FROM timed t
        )
        SELECT e.*,
               CASE WHEN natural_end <= getvariable('now') AND NOT dunning THEN natural_end END AS ended_at,
               CASE WHEN incomplete THEN 'incomplete_expired'
                    WHEN natural_end <= getvariable('now') AND NOT dunning THEN 'canceled'
                    WHEN trial AND paid_start > getvariable('now') THEN 'trialing'
                    WHEN dunning THEN 'past_due' ELSE 'active' END AS status,
               p.id AS price_id, p.unit_amount,
               CASE WHEN e.tier = 3 THEN 1 + pick(j, 'seats', 25) ELSE 1 END AS quantity,
               sid('sub_', j, 6) AS id
        FROM ended e JOIN price_list p ON p.tier = e.tier AND p.currency = e.currency
                                       AND p.recurring_interval = e.interval
        """
    )
    # Billing periods started so far (k with paid_start + k intervals < end): one invoice each.
    con.execute(
        """
        CREATE TEMP TABLE sub_periods AS
        WITH limits AS (
            SELECT s.*, coalesce(ended_at, getvariable('now')) AS until,
                   date_diff(interval, paid_start, coalesce(ended_at, getvariable('now'))) AS whole
            FROM sub s
        )
        SELECT * EXCLUDE (until, whole),
               CASE WHEN status = 'incomplete_expired' THEN 1
                    WHEN paid_start >= until THEN 0
                    WHEN interval = 'month' THEN whole + (paid_start + to_months(whole) < until)::INT
                    ELSE whole + (paid_start + to_years(whole) < until)::INT END AS periods
        FROM limits
        """
    )
    con.execute(
        """
        INSERT INTO subscriptions BY NAME
        SELECT id, customer_id, status,
               CASE WHEN u(j, 'send') < 0.03 THEN 'send_invoice' ELSE 'charge_automatically' END
                 AS collection_method,
               currency, start_date AS created, start_date,
               CASE WHEN trial THEN start_date END AS trial_start,
               CASE WHEN trial THEN paid_start END AS trial_end,
               status NOT IN ('canceled', 'incomplete_expired') AND u(j, 'cape') < 0.03
                 AS cancel_at_period_end,
               CASE WHEN ended_at IS NOT NULL THEN ended_at - INTERVAL (pick(j, 'notice', 20)) DAY END
                 AS canceled_at,
               ended_at,
               CASE WHEN status = 'canceled' THEN reason END AS cancellation_reason,
               CASE WHEN periods > 0 THEN sid('in_', j * 64 + periods - 1, 8) END AS latest_invoice_id
        FROM sub_periods ORDER BY start_date
        """
    )
    con.execute(
        """
        INSERT INTO subscription_items BY NAME
        SELECT sid('si_', j, 6) AS id, id AS subscription_id, price_id, quantity,
               CASE WHEN periods = 0 THEN start_date
                    WHEN interval = 'month' THEN paid_start + to_months(periods - 1)
                    ELSE paid_start + to_years(periods - 1) END AS current_period_start,
               CASE WHEN periods = 0 THEN paid_start
                    WHEN interval = 'month' THEN paid_start + to_months(periods)
                    ELSE paid_start + to_years(periods) END AS current_period_end,
               start_date AS created
        FROM sub_periods ORDER BY start_date
        """
    )


def _invoices(con: duckdb.DuckDBPyConnection) -> None:
    # One invoice per started period; its fate decides the attempts behind it.
    con.execute(
        """
        CREATE TEMP TABLE inv AS
        WITH periods AS (
            SELECT s.*, p, p = periods - 1 AS last,
                   CASE WHEN interval = 'month' THEN paid_start + to_months(p)
                        ELSE paid_start + to_years(p) END
                     + to_seconds(pick(j * 64 + p, 'jitter', 3600)) AS created,
                   u(j, 'send') < 0.03 AS send_invoice
            FROM sub_periods s, range(periods) AS r(p)
        ), fate AS (
            SELECT *,
                   CASE WHEN status = 'incomplete_expired' THEN 'void'
                        WHEN send_invoice
                             THEN CASE WHEN last AND created > getvariable('now') - INTERVAL 20 DAY
                                       THEN 'open' ELSE 'paid' END
                        WHEN dunning AND last THEN 'open'
                        WHEN last AND status = 'canceled' AND reason = 'payment_failed'
                             THEN CASE WHEN u(j, 'lost') < 0.7 THEN 'uncollectible' ELSE 'void' END
                        ELSE 'paid' END AS inv_status
            FROM periods
        ), tried AS (
            SELECT *,
                   CASE WHEN send_invoice THEN 0
                        WHEN inv_status = 'void' AND status = 'incomplete_expired' THEN 1
                        WHEN inv_status IN ('uncollectible', 'void') THEN 4
                        WHEN inv_status = 'open' THEN 1 + least(pick(j, 'tries', 3),
                             date_diff('day', created, getvariable('now')) // 4)
                        WHEN u(j * 64 + p, 'fail') < 0.04 THEN 1
                        WHEN u(j * 64 + p, 'fail') < 0.055 THEN 2
                        WHEN u(j * 64 + p, 'fail') < 0.06 THEN 3 ELSE 0 END AS failures
            FROM fate
        )
        SELECT *,
               j * 64 + p AS k,
               sid('in_', j * 64 + p, 8) AS inv_id,
               unit_amount * quantity AS amount,
               (inv_status = 'paid' AND NOT send_invoice)::INT AS succeeded
        FROM tried
        """
    )
    con.execute(
        """
        INSERT INTO invoices BY NAME
        SELECT inv_id AS id, invoice_prefix || '-' || lpad((rank * 500 + p + 1)::VARCHAR, 4, '0') AS number,
               customer_id, id AS subscription_id, inv_status AS status,
               CASE WHEN send_invoice THEN 'send_invoice' ELSE 'charge_automatically' END
                 AS collection_method,
               CASE WHEN p = 0 THEN 'subscription_create' ELSE 'subscription_cycle' END AS billing_reason,
               currency, amount AS amount_due,
               CASE WHEN inv_status = 'paid' THEN amount ELSE 0 END AS amount_paid,
               CASE WHEN inv_status IN ('open', 'uncollectible') THEN amount ELSE 0 END AS amount_remaining,
               failures + succeeded AS attempt_count,
               CASE WHEN inv_status = 'open' AND NOT send_invoice
                    THEN greatest(created + INTERVAL (failures * 4) DAY,
                                  getvariable('now') + to_seconds(pick(k, 'retry', 4 * 86400))) END
                 AS next_payment_attempt,
               created, created + INTERVAL 1 HOUR AS finalized_at,
               CASE WHEN inv_status = 'paid' THEN created + INTERVAL (failures * 96 + 1) HOUR END AS paid_at,
               CASE WHEN inv_status = 'void' THEN created + INTERVAL (failures * 96 + 2) HOUR END
                 AS voided_at,
               CASE WHEN inv_status = 'uncollectible' THEN created + INTERVAL (failures * 96 + 2) HOUR END
                 AS marked_uncollectible_at,
               'https://invoice.stripe.com/i/acct_1BenchAccount00/test_' || inv_id AS hosted_invoice_url,
               email AS customer_email
        FROM inv ORDER BY customer_id, created -- clustered by customer, as the sync stores them
        """
    )
    # Retries 4 days apart; the last one succeeds when the invoice was paid.
    con.execute(
        """
        INSERT INTO payment_attempts BY NAME
        WITH attempts AS (
            SELECT inv_id, customer_id, k, a, currency, amount,
                   created + INTERVAL (a * 4 * 24 + 1) HOUR AS attempted_at,
                   a < failures AS failed, u(k * 8 + a, 'decline') AS d
            FROM inv, range(failures + succeeded) AS r(a)
        )
        SELECT sid('ch_', k * 8 + a, 9) AS id, inv_id AS invoice_id, customer_id,
               sid('pi_', k, 8) AS payment_intent_id, attempted_at AS created,
               CASE WHEN failed THEN 'failed' ELSE 'succeeded' END AS status, amount, currency,
               CASE WHEN NOT failed THEN NULL WHEN d < 0.1 THEN 'expired_card' ELSE 'card_declined' END
                 AS failure_code,
               CASE WHEN NOT failed THEN NULL WHEN d < 0.1 THEN 'Your card has expired.'
                    WHEN d < 0.5 THEN 'Your card has insufficient funds.' ELSE 'Your card was declined.' END
                 AS failure_message,
               CASE WHEN NOT failed THEN NULL WHEN d < 0.1 THEN 'expired_card'
                    WHEN d < 0.5 THEN 'insufficient_funds'
                    WHEN d < 0.75 THEN 'generic_decline' WHEN d < 0.9 THEN 'do_not_honor'
                    WHEN d < 0.95 THEN 'lost_card' ELSE 'card_velocity_exceeded' END AS decline_code,
               CASE WHEN failed THEN 'issuer_declined' ELSE 'authorized' END AS outcome_type
        FROM attempts ORDER BY customer_id, attempted_at
        """
    )
    # Customers: delinquent while in dunning; a few who left were deleted in Stripe.
    con.execute(
        """
        INSERT INTO customers BY NAME
        SELECT c.id, c.email, c.name, c.created, c.currency, coalesce(a.past_due, false) AS delinquent,
               c.leaves AND coalesce(a.all_ended, false) AS deleted,
               CASE WHEN u(c.i, 'locale') < 0.3 THEN [] ELSE [c.lang] END AS preferred_locales,
               false AS livemode, '{}' AS metadata
        FROM cust c LEFT JOIN (
            SELECT i, bool_and(ended_at IS NOT NULL) AS all_ended, bool_or(status = 'past_due') AS past_due
            FROM sub GROUP BY i
        ) a USING (i)
        ORDER BY c.i
        """
    )


def _sync_history(con: duckdb.DuckDBPyConnection) -> None:
    objects = ("customers", "products", "prices", "subscriptions", "subscription_items", "invoices")
    counts = ", ".join(f"'{t}', (SELECT count(*) FROM {t})" for t in objects)
    con.execute(
        "INSERT INTO sync_runs BY NAME SELECT 1 AS id, "
        "getvariable('now') - INTERVAL 40 MINUTE AS started_at, "
        "getvariable('now') AS finished_at, 'full' AS mode, 'succeeded' AS status, "
        f"json_object({counts}) AS objects, 0 AS requests"
    )
    con.execute(
        "INSERT INTO sync_state BY NAME SELECT 'events_cursor' AS name, 'evt_bench' AS value, "
        "getvariable('now') AS updated_at"
    )
