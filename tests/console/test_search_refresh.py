"""A sync run keeps the customer search table up to date from what it changed
(warehouse_views/derived.py's `refresh`, carried to the standby by sync/publish.py): after
seeded changes (new customers with tied and missing creation times, a rename, a changed
email, a deleted customer, a subscription's status, an invoice in dunning paid and one that
enters dunning), the search
gives exactly what a full build of the table gives, in the same order, page by page."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from console.warehouse import customers, snapshots
from sync.publish import Snapshot, Writer
from tests.console import warehouse_fixture as fx
from warehouse_views import derived

SEED = 17
NAMES = ("José Núñez", "Zoë Weiß", "Ana Ortiz", "Jo Ann", "Søren Ørsted", "Anaïs Loïc")
# What the search box and filters are compared on, each over several small pages.
SEARCHES = [
    {"text": ""},
    {"text": "example"},
    {"text": "jos"},
    {"text": "an"},
    {"text": "renamed"},
    {"text": "", "dunning_only": True},
    {"text": "", "delinquent_only": True},
    {"text": "", "subscription_status": "active"},
    {"text": "", "subscription_status": "canceled"},
    {"text": "", "currency": "usd"},
    {"text": "example", "currency": "eur"},
]


def _as_published(db: Path) -> Path:
    """The fixture warehouse as the sync publishes it: with its derived tables."""
    with duckdb.connect(str(db)) as con:
        derived.build(con, "main")
        con.execute("INSERT INTO sync_state VALUES (?, ?, now())", [derived.STATE_NAME, derived.DIGEST])
    return db


def _run(db: Path, change: Callable[[Writer], None]) -> str:
    """One run of the sync's writer: `change`, then finish and publish; how `.next` was made."""
    snapshot = Snapshot(db, fresh=False)
    try:
        writer = Writer(snapshot)
        change(writer)
        writer.finish()
        snapshot.publish()
    except BaseException:
        snapshot.discard()
        raise
    return snapshot.source


def _row(writer: Writer, table: str, object_id: str, **changed: object) -> dict[str, object]:
    cur = writer.con.execute(f"SELECT * FROM {table} WHERE id = ?", [object_id])  # noqa: S608 -- test constant
    names = [column[0] for column in cur.description]
    return {**dict(zip(names, cur.fetchall()[0], strict=True)), **changed}


def _new_customers(rng: random.Random) -> Callable[[Writer], None]:
    now = fx.utc_now()
    # Few distinct times: ties are ordered by id; a customer without a time comes last.
    times = [now - timedelta(days=d) for d in (10, 10, 200, 365)] + [None]

    def change(writer: Writer) -> None:
        rows = [
            {
                "id": f"cus_New{n:02d}{rng.choice('abcXYZ')}",
                "email": f"new{n}@{rng.choice(['example.com', 'example.org', 'mail.test'])}",
                "name": rng.choice(NAMES),
                "created": rng.choice(times),
                "currency": rng.choice(["usd", "eur", None]),
                "delinquent": rng.random() < 0.3,
                "deleted": False,
                "livemode": True,
                "metadata": "{}",
            }
            for n in range(30)
        ]
        writer.add({"customers": rows})

    return change


def _edits(rng: random.Random) -> Callable[[Writer], None]:
    def change(writer: Writer) -> None:
        new = sorted(
            row[0]
            for row in writer.con.execute("SELECT id FROM customers WHERE id LIKE 'cus_New%'").fetchall()
        )
        renamed, emailed, moved, deleted = rng.sample(new, 4)
        writer.add(
            {
                "customers": [
                    _row(writer, "customers", fx.JOSE, name="Renamed Jose"),
                    _row(writer, "customers", fx.TANAKA, email="hiroshi@renamed.example"),
                    _row(writer, "customers", renamed, name="Renamed New"),
                    _row(writer, "customers", emailed, email="renamed@example.net"),
                    _row(writer, "customers", moved, created=fx.utc_now()),
                ],
                "subscriptions": [
                    _row(writer, "subscriptions", "sub_Html1", status=rng.choice(["canceled", "past_due"]))
                ],
                "invoices": [_row(writer, "invoices", fx.BIGRISK_OPEN_INVOICE, status="paid")],
                # A first failed attempt: the quiet customer's open invoice enters dunning.
                "charges": [
                    {
                        "id": "ch_QuietFailed1",
                        "invoice_id": fx.QUIET_OPEN_INVOICE,
                        "customer_id": fx.QUIET,
                        "created": fx.utc_now(),
                        "status": "failed",
                        "amount": 99900,
                        "currency": "usd",
                        "failure_code": "card_declined",
                    }
                ],
            }
        )
        writer.mark_customers_deleted([fx.ZOE, deleted])

    return change


def _results(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    found = []
    for search in SEARCHES:
        for page in (1, 2, 3):
            result = customers.search_customers(con, page=page, page_size=4, **search)
            found.append((search, page, result.total, result.rows.to_dict("records")))
    return found


def _full_build(db: Path) -> duckdb.DuckDBPyConnection:
    """A connection reading `db` with the search table built in full, in memory."""
    con = duckdb.connect()
    con.execute(f"ATTACH ? AS {snapshots.WAREHOUSE} (READ_ONLY)", [str(db)])
    con.execute(f"USE {snapshots.WAREHOUSE}")
    derived.build(con, "memory.main")
    return con


def _assert_same_as_full_build(db: Path) -> None:
    refreshed = snapshots.open_snapshot(db)  # the sync's table, kept up to date
    full = _full_build(db)
    rows = "SELECT * EXCLUDE (appended) FROM {}.main." + derived.SEARCH_TABLE  # noqa: S608
    kept, built = rows.format(snapshots.WAREHOUSE), rows.format("memory")
    assert full.execute(f"{kept} EXCEPT ALL {built}").fetchall() == []
    assert full.execute(f"{built} EXCEPT ALL {kept}").fetchall() == []
    assert _results(snapshots.cursor(refreshed)) == _results(full)
    refreshed.close()
    full.close()


@pytest.mark.parametrize(
    ("seed", "sort_again_rows"),
    [(SEED, derived.SORT_AGAIN_ROWS), (SEED + 1, derived.SORT_AGAIN_ROWS), (SEED, 5)],
)
def test_runs_refresh_the_search_as_a_full_build_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, sort_again_rows: int
) -> None:
    # With 5, every run's refresh sorts the table again: the third copies the second one's whole.
    monkeypatch.setattr(derived, "SORT_AGAIN_ROWS", sort_again_rows)
    db = _as_published(fx.build_warehouse(tmp_path / "billing.duckdb"))
    rng = random.Random(seed)
    sources = [_run(db, _new_customers(rng)), _run(db, _edits(rng))]
    _assert_same_as_full_build(db)
    sources.append(_run(db, _edits(rng)))  # on the standby: the previous run's changes caught up first
    _assert_same_as_full_build(db)
    assert sources == ["copy", "copy", "standby"]
    with duckdb.connect(str(db), read_only=True) as con:  # refreshed, not rebuilt
        listed = con.execute(
            "SELECT count(DISTINCT id) FROM snapshot_changes WHERE table_name = ?", [derived.SEARCH_TABLE]
        ).fetchone()[0]
        appended = con.execute(f"SELECT count(*) FROM {derived.SEARCH_TABLE} WHERE appended").fetchone()[0]  # noqa: S608
    assert 0 < listed < 38
    assert (appended == 0) == (sort_again_rows == 5)
