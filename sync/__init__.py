"""Stripe account to DuckDB warehouse: parallel backfill, event-based incremental runs.

`python -m sync --help` for the command; `sync.run(...)` for tests and benchmarks.
"""

from sync.job import BadConfiguration, RunSummary, run

__all__ = ["BadConfiguration", "RunSummary", "run"]
