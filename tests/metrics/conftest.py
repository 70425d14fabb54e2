"""Fixtures: the hand-built 2025 warehouse (and its audit log) where the console looks for them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.metrics.books import AUDIT_2025, build_year_2025, write_audit


@pytest.fixture
def books_2025(console_env: dict[str, str]) -> Path:
    """The 2025 scenario at BILLING_DB, its portal links in the ops store at OPS_DB."""
    path = build_year_2025(Path(console_env["BILLING_DB"]))
    write_audit(Path(console_env["OPS_DB"]), AUDIT_2025)
    return path


@pytest.fixture
def warehouse_2025(tmp_path: Path):
    path = build_year_2025(tmp_path / "billing.duckdb")
    conn = duckdb.connect(str(path), read_only=True)
    yield conn
    conn.close()
