"""DuckLake against a plain DuckDB file (issue #17, option b): a 1,000-row upsert, and a
customer's invoices read by a new reader. Not part of `python -m bench`: DuckLake's wheel
exists only for duckdb 1.5.5, so it runs in a throwaway venv:

    python -m venv /tmp/dl && /tmp/dl/bin/pip install duckdb==1.5.5 duckdb-extension-ducklake==1.5.5
    /tmp/dl/bin/python bench/ducklake_probe.py /tmp/dlbench

5,000,000 invoice-like rows (id, customer_id, amount, status), 500,000 customers.
"""

from __future__ import annotations

import random
import shutil
import statistics
import sys
import time
from pathlib import Path

import duckdb

ROWS = 5_000_000


def _extension() -> str:
    import duckdb_extension_ducklake

    found = next(Path(duckdb_extension_ducklake.__file__).parent.rglob("ducklake.duckdb_extension"))
    return str(found)


def main(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    extension = _extension()
    con = duckdb.connect()
    con.execute(f"LOAD '{extension}'")
    con.execute(f"ATTACH 'ducklake:{root}/meta.ducklake' AS lake (DATA_PATH '{root}/data')")
    con.execute(f"ATTACH '{root}/plain.duckdb' AS plain")
    rows = (
        "SELECT 'in_' || md5(i::VARCHAR)[:24] AS id, "
        "'cus_' || lpad((hash(i) % 500000)::VARCHAR, 8, '0') AS customer_id, i AS amount, 'open' AS status "
        "FROM range(?) t(i)"
    )
    con.execute(f"CREATE TABLE lake.invoices AS {rows}", [ROWS])
    con.execute(f"CREATE TABLE plain.invoices AS {rows}", [ROWS])
    con.execute("CREATE INDEX invoices_customer ON plain.invoices (customer_id)")
    con.execute("CHECKPOINT plain")
    con.execute("CREATE TEMP TABLE batch AS SELECT * FROM lake.invoices USING SAMPLE 1000 ROWS")
    for db in ("lake", "plain"):
        started = time.perf_counter()
        con.execute("BEGIN")
        con.execute(f"DELETE FROM {db}.invoices WHERE id IN (SELECT id FROM batch)")  # noqa: S608
        con.execute(f"INSERT INTO {db}.invoices SELECT * FROM batch")  # noqa: S608
        con.execute("COMMIT")
        print(f"{db}: upsert of 1,000 rows {time.perf_counter() - started:.2f} s")
    con.close()
    customers = [f"cus_{random.Random(i).randrange(500000):08d}" for i in range(30)]
    for db in ("lake", "plain"):
        opens, lookups = [], []
        for customer in customers:
            started = time.perf_counter()
            reader = duckdb.connect()
            if db == "lake":
                reader.execute(f"LOAD '{extension}'")
                reader.execute(f"ATTACH 'ducklake:{root}/meta.ducklake' AS lake (READ_ONLY)")
            else:
                reader.execute(f"ATTACH '{root}/plain.duckdb' AS plain (READ_ONLY)")
            opens.append((time.perf_counter() - started) * 1000)
            query = f"FROM {db}.invoices WHERE customer_id = ?"
            reader.execute(query, [customers[0]]).fetchall()  # the first read loads the catalog
            started = time.perf_counter()
            reader.execute(query, [customer]).fetchall()
            lookups.append((time.perf_counter() - started) * 1000)
            reader.close()
        lookups.sort()
        print(
            f"{db}: open p50 {statistics.median(opens):.1f} ms; a customer's invoices "
            f"p50 {statistics.median(lookups):.1f} ms, p95 {lookups[int(len(lookups) * 0.95) - 1]:.1f} ms"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dlbench"))
