"""`python -m console.report` as finance runs it: a subprocess over a real warehouse file."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from console.display.tables import format_rate
from tests.metrics.books import build_year_2025

ROOT = Path(__file__).resolve().parents[2]

# Worked out in test_churn.py (EXPECTED_2025); every subscription ended in 2025, so today's date
# does not matter. Rates: 1/4, 3000/24100, 2/4, 72400/98400, 12/31, 2/3, 14/19.
CHURN_CSV = """\
month,currency,subscribers_start,churned,churned_voluntary,churned_involuntary,logo_churn_rate,mrr_start,mrr_churned,mrr_churn_rate
2025-01,usd,1,0,0,0,0.000000,3033,0,0.000000
2025-02,eur,2,0,0,0,0.000000,2003,0,0.000000
2025-02,usd,4,1,1,0,0.250000,8033,1000,0.12448132780082988
2025-03,eur,2,2,1,1,1.000000,2003,2003,1.000000
2025-03,usd,4,2,1,1,0.500000,8200,6033,0.7357723577235772
2025-04,jpy,1,0,0,0,0.000000,833,0,0.000000
2025-04,usd,4,1,0,1,0.250000,5167,2000,0.3870967741935484
2025-05,jpy,1,1,1,0,1.000000,833,833,1.000000
2025-05,usd,3,2,2,0,0.6666666666666666,3167,2333,0.7368421052631579
2025-06,usd,1,1,0,1,1.000000,833,833,1.000000
"""

# Worked out in test_dunning.py (EXPECTED_DUNNING).
DUNNING_CSV = """\
month,currency,entered,recovered,lost,pending,recovery_rate,amount_recovered,amount_lost,amount_pending
2025-02,usd,1,1,0,0,1.000000,2000,0,0
2025-03,eur,1,1,0,0,1.000000,2000,0,0
2025-03,usd,2,1,1,0,0.500000,1000,3000,0
2025-04,jpy,1,0,1,0,0.000000,0,1500,0
2025-04,usd,2,0,1,1,0.000000,0,4000,2500
2025-05,usd,1,0,0,1,,0,0,700
"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_year_2025(tmp_path_factory.mktemp("report") / "billing.duckdb")


def report(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "console.report", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_churn_csv_is_exactly_the_hand_worked_table(warehouse):
    done = report("churn", "--db", str(warehouse), "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert done.stdout == CHURN_CSV


def test_dunning_csv_is_exactly_the_hand_worked_table(warehouse):
    done = report("dunning", "--db", str(warehouse))  # csv is the default
    assert done.returncode == 0, done.stderr
    assert done.stdout == DUNNING_CSV


def test_csv_form(warehouse):
    """Rates have at least 6 digits after the point or are empty; money is whole minor units."""
    for table in ("churn", "dunning"):
        rows = list(csv.DictReader(io.StringIO(report(table, "--db", str(warehouse)).stdout)))
        for row in rows:
            for column, value in row.items():
                if column.endswith("rate"):
                    assert value == "" or re.fullmatch(r"\d+\.\d{6,}", value), (column, value)
                elif column not in ("month", "currency"):
                    assert re.fullmatch(r"\d+", value), (column, value)
        assert [(r["month"], r["currency"]) for r in rows] == sorted(
            (r["month"], r["currency"]) for r in rows
        )


def test_since_narrows(warehouse):
    done = report("dunning", "--db", str(warehouse), "--since", "2025-04")
    lines = DUNNING_CSV.splitlines()
    assert done.stdout.splitlines() == [lines[0], *lines[4:]]


def test_table_format_is_for_people(warehouse):
    done = report("dunning", "--db", str(warehouse), "--format", "table")
    assert done.returncode == 0
    assert "¥1,500" in done.stdout and "$40.00" in done.stdout and "50.00%" in done.stdout


def test_db_defaults_to_the_setting(warehouse):
    done = report("churn", env={"BILLING_DB": str(warehouse), "CONSOLE_SECRETS_FILE": "/nonexistent.toml"})
    assert done.returncode == 0 and done.stdout == CHURN_CSV


def test_missing_warehouse_is_one_line_and_exit_2(tmp_path):
    done = report("churn", "--db", str(tmp_path / "nope.duckdb"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "No warehouse at" in done.stderr


def test_bad_arguments_exit_2_and_change_nothing(warehouse):
    before = warehouse.stat().st_mtime_ns
    for args in (["churn", "--since", "2025-13"], ["refunds"], ["churn", "--format", "xml"]):
        done = report(*args, "--db", str(warehouse))
        assert done.returncode == 2 and done.stdout == ""
    assert "YYYY-MM" in report("churn", "--since", "25-01", "--db", str(warehouse)).stderr
    assert warehouse.stat().st_mtime_ns == before


def test_unreadable_warehouse_is_one_line(tmp_path):
    broken = tmp_path / "broken.duckdb"
    broken.write_text("not a database")
    done = report("dunning", "--db", str(broken))
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.125, "0.125000"), (1.0, "1.000000"), (0.0, "0.000000"), (1 / 3, "0.3333333333333333"),
     (1e-7, "0.0000001"), (float("nan"), "")],
)  # fmt: skip
def test_rate_text(value, text):
    assert format_rate(value) == text
