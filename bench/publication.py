"""What publishing a run costs, by how `.next` is made: a copy of the live file, or the
standby caught up with the previous run's changes (sync/publish.py); and what a reader
would pay to reconnect for every query instead (the rejected "brief writes to the live
file" design).

`python -m bench.publication WAREHOUSE [CHANGES]` on a copy of a built warehouse
(bench/synthetic_warehouse.py): two runs that each rewrite CHANGES invoices and customers
through the sync's own Writer, timed from opening the snapshot to the rename.
"""

from __future__ import annotations

import resource
import shutil
import sys
import time
from pathlib import Path

import duckdb

from sync.publish import Snapshot, Writer


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(db: Path, changes: int, seed: int) -> tuple[str, float]:
    started = time.perf_counter()
    snapshot = Snapshot(db, fresh=False)
    opened = time.perf_counter()
    print(f"  .next ready in {opened - started:.2f} s (peak RSS so far {_rss_mb():,.0f} MB)")
    writer = Writer(snapshot)
    for table in ("customers", "invoices"):
        # Rows spread over the table, read by position: a reservoir sample of whole rows
        # would take more memory than the run it feeds.
        total = snapshot.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        cur = snapshot.con.execute(
            f"SELECT * FROM {table} LIMIT ? OFFSET ?",  # noqa: S608
            [changes, (total // 3) * seed % max(1, total - changes)],
        )
        names = [d[0] for d in cur.description]
        writer.add({table: [dict(zip(names, row, strict=True)) for row in cur.fetchall()]})
    print(f"  changes read (the benchmark's own sampling): peak RSS {_rss_mb():,.0f} MB")
    written = time.perf_counter()
    writer.finish()
    finished = time.perf_counter()
    print(f"  finish (attempts, derived tables) {finished - written:.2f} s (peak RSS {_rss_mb():,.0f} MB)")
    snapshot.publish()
    print(f"  checkpoint and rename {time.perf_counter() - finished:.2f} s")
    return snapshot.source, time.perf_counter() - started


def _reconnect_ms(db: Path, runs: int = 20) -> float:
    ids = [r[0] for r in duckdb.connect(str(db), read_only=True).execute(
        f"SELECT id FROM customers USING SAMPLE {runs} ROWS (reservoir, 3)"  # noqa: S608
    ).fetchall()]  # fmt: skip
    started = time.perf_counter()
    for customer_id in ids:
        con = duckdb.connect(str(db), read_only=True)
        con.execute("SELECT * FROM invoices WHERE customer_id = ?", [customer_id]).fetchall()
        con.close()
    return (time.perf_counter() - started) * 1000 / runs


def main(source: Path, changes: int) -> None:
    db = source.with_name("publication-bench.duckdb")
    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()
    shutil.copyfile(source, db)
    print(f"warehouse {source.name}: {db.stat().st_size / 1e6:,.0f} MB, {changes:,} changed rows per table")
    for seed in range(3):
        how, seconds = _run(db, changes, seed)
        print(f"run {seed + 1}: .next from {how}: {seconds:.2f} s")
    print(f"peak RSS {_rss_mb():,.0f} MB")
    print(f"open + one customer's invoices + close, per query: {_reconnect_ms(db):.1f} ms")
    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
