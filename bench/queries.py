"""Console queries on a large warehouse: the real console functions, p50 and p95.

Each run asks about another customer (or another search text), drawn from the
warehouse with a fixed seed, so that nothing is answered from a warm row cache of a
single customer. Queries run on a cursor of `console.warehouse.snapshots.open_snapshot`, the
connection the console itself keeps per published snapshot, without Streamlit's
result cache in front (that cache only helps the second viewer of the same thing).
"""

from __future__ import annotations

import random
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from bench.measure import Timing, drop_from_page_cache, time_calls
from bench.results import Result
from console.warehouse import churn, customers, dunning_outcomes, dunning_queue, payment_methods, snapshots

TARGETS_MS = {
    "search": 50,
    "customer page": 100,
    "dunning queue": 300,
    "report": 1000,
    "churn view": 300,
}


def _sample(con: duckdb.DuckDBPyConnection, sql: str, count: int, seed: int) -> list[tuple]:
    rows = con.execute(sql).fetchall()
    random.Random(seed).shuffle(rows)
    return rows[:count]


def _partial(text: str, rng: random.Random) -> str:
    """A fragment of `text`, as an agent types it: the start of a word, at least 5 characters."""
    start = rng.randrange(0, max(1, len(text) - 5))
    return text[start : start + rng.randint(5, 12)]


def run(warehouse: Path, runs: int = 50, report_runs: int = 5, seed: int = 7, cold: bool = False) -> Result:
    """`cold`: the warehouse file is dropped from the OS page cache before the snapshot is
    opened and before every timed call, as for a console reading a file it has not read yet."""
    before = (lambda: drop_from_page_cache(warehouse)) if cold else (lambda: None)
    before()
    opened = time.perf_counter()
    con = snapshots.open_snapshot(warehouse)
    open_ms = (time.perf_counter() - opened) * 1000
    cur = snapshots.cursor(con)
    cur.execute("SET enable_progress_bar = false")  # keeps the benchmark's output readable
    counts = {
        table: cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 (fixed names)
        for table in ("customers", "subscriptions", "invoices", "payment_attempts")
    }
    picks = max(runs + 5, 50)
    # Customers with an email and a name, spread over the whole table.
    people = _sample(
        cur,
        "SELECT * FROM (SELECT id, email, name FROM customers "
        "WHERE email IS NOT NULL AND name IS NOT NULL AND NOT deleted) "
        "USING SAMPLE 2000 ROWS (reservoir, 11)",
        picks,
        seed,
    )
    invoices = _sample(
        cur, "SELECT id, number FROM invoices USING SAMPLE 2000 ROWS (reservoir, 12)", picks, seed
    )
    rng = random.Random(seed)
    emails = [_partial(email.split("@")[0], rng) for _, email, _ in people]
    # Last names without accents and in lower case: the search must fold "muller" onto "Müller".
    names = [_unaccented(name.split()[-1]).lower() for _, _, name in people]

    history = churn.churn_history(cur, datetime.now(UTC).strftime("%Y-%m"))

    def search(texts: list[str]) -> Callable[[int], object]:
        return lambda i: customers.search_customers(cur, texts[i % len(texts)])

    cases: list[tuple[str, str, Callable[[int], object], int]] = [
        ("search", "search by email (partial)", search(emails), runs),
        ("search", "search by name (partial, no accents)", search(names), runs),
        ("search", "search by customer id", search([row[0] for row in people]), runs),
        ("search", "search by invoice id", search([row[0] for row in invoices]), runs),
        ("search", "search by invoice number", search([row[1] for row in invoices]), runs),
        ("customer page", "customer page: all four queries",
         lambda i: _customer_page(cur, people[i % len(people)][0]), runs),
        ("dunning queue", "dunning queue", lambda i: dunning_queue.dunning_queue(cur), max(10, runs // 5)),
        ("report", "churn report (all months), whole", lambda i: churn.churn_table(cur), report_runs),
        # What a console view costs: the month's history is computed once per snapshot (cached).
        ("churn view", "churn report, month so far on the snapshot's history",
         lambda i: churn.churn_month_so_far(history, datetime.now(UTC)), runs),
        ("report", "dunning report (all months)", lambda i: dunning_outcomes.dunning_table(cur), report_runs),
    ]  # fmt: skip
    rows, figures = [], {"warehouse_rows": counts, "snapshot_open_ms": round(open_ms, 1), "queries": {}}
    for target_key, label, call, n in cases:
        timing: Timing = time_calls(call, n, warmup=2, before=before)
        target = TARGETS_MS[target_key]
        verdict = "yes" if timing.p95_ms < target else "**no**"
        rows.append([label, timing.runs, timing.p50_ms, timing.p95_ms, f"< {target:,}", verdict])
        figures["queries"][label] = {**timing.as_dict(), "target_p95_ms": target}
        print(f"  {label}: p50 {timing.p50_ms} ms, p95 {timing.p95_ms} ms", flush=True)
    cur.close()
    con.close()
    size_gb = warehouse.stat().st_size / 1e9
    figures["warehouse_file_gb"] = round(size_gb, 2)
    return Result(
        name="queries-cold-cache" if cold else "queries",
        title=(
            ("(the file dropped from the OS page cache before each call) " if cold else "")
            + f"Console queries on {counts['customers']:,} customers, {counts['invoices']:,} invoices, "
            f"{counts['payment_attempts']:,} payment attempts"
        ),
        columns=["query", "runs", "p50 ms", "p95 ms", "target p95 ms", "met"],
        rows=rows,
        notes=[
            f"Warehouse built directly in DuckDB by `bench/synthetic_warehouse.py` ({size_gb:.1f} GB file, "
            f"{counts['subscriptions']:,} subscriptions), with the sync's schema and indexes.",
            "Each run asks about another customer or text, drawn with a fixed seed; the real console "
            "functions (console/warehouse/: customers.py, dunning_queue.py, churn.py, dunning_outcomes.py) "
            "on a cursor of the console's own snapshot connection, without Streamlit's result cache.",
            f"Opening a published snapshot (once per sync, per console process) took {open_ms:,.0f} ms: "
            "the derived tables (search, dunning) come built in the file by the sync.",
            "Churn report: computed whole (`churn_table`: the month's history and the month so far), "
            "and as a console view pays it: the month so far (`churn_month_so_far`) on the history the "
            "console computes once per snapshot and month (`churn_history`, the same cost as the whole).",
            "Customer page: profile, subscriptions, invoices and payment attempts, called in sequence as "
            "the page does (the portal-link history comes from the SQLite ops store and is not included).",
        ],
        figures=figures,
    )


def _unaccented(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _customer_page(cur: duckdb.DuckDBPyConnection, customer_id: str) -> None:
    profile = customers.customer_profile(cur, customer_id)
    livemode = profile.livemode if profile else None
    customers.customer_subscriptions(cur, customer_id, datetime.now(UTC).replace(tzinfo=None))
    customers.customer_invoices(cur, customer_id, livemode)
    customers.customer_payment_attempts(cur, customer_id, livemode)
    payment_methods.payment_panel(cur, customer_id, datetime.now(UTC).replace(tzinfo=None))
