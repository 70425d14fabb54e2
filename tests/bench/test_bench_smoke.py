"""Smoke tests of the benchmark harness: each benchmark on small inputs, without latency.

They show that `python -m bench` runs end to end and writes complete result files;
they assert nothing about speed (that is what the full benchmarks are for).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, browser_or_skip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Cached inputs (a 300-customer account, a 5,000-customer warehouse) shared by the module."""
    return tmp_path_factory.mktemp("bench-cache"), tmp_path_factory.mktemp("bench-results")


def run_bench(name: str, dirs: tuple[Path, Path]) -> dict:
    cache, out = dirs
    answer = subprocess.run(
        [sys.executable, "-m", "bench", name, "--small", "--out", str(out), "--cache", str(cache)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stdout[-2000:] + answer.stderr[-4000:]
    markdown = (out / f"{name}.md").read_text()
    assert "Command: `python -m bench" in markdown and "cores" in markdown
    result = json.loads((out / f"{name}.json").read_text())
    assert result["machine"]["cores"] >= 1 and result["command"].startswith("python -m bench")
    assert result["rows"]
    return result


def test_plain_command_means_every_benchmark():
    # `make bench` runs `python -m bench` without arguments.
    from bench.__main__ import _arguments

    assert _arguments([]).which == [] and _arguments(["backfill", "incremental"]).which == [
        "backfill",
        "incremental",
    ]


def test_queries_benchmark_runs_every_console_query(bench_dirs):
    result = run_bench("queries", bench_dirs)
    labels = [row[0] for row in result["rows"]]
    assert any("email" in label for label in labels) and any("name" in label for label in labels)
    assert "customer page: all four queries" in labels and "dunning queue" in labels
    # churn whole, churn as a view pays it (month so far on the per-snapshot history), dunning
    assert len([label for label in labels if "report" in label]) == 3
    assert result["figures"]["warehouse_rows"]["customers"] == 5000
    assert all(q["p95_ms"] >= q["p50_ms"] > 0 for q in result["figures"]["queries"].values())


def test_backfill_benchmark_compares_sync_and_baseline(bench_dirs):
    result = run_bench("backfill", bench_dirs)
    figures = result["figures"]
    listed = sum(figures["listed_objects"].values())
    assert listed > 2000
    # The small baseline has no time budget: it loads everything, one request per page.
    assert figures["baseline"]["complete"]
    assert figures["baseline"]["measured_objects"] == listed
    assert figures["baseline"]["measured_requests"] == figures["baseline"]["full_reload_requests"]
    assert figures["sync"]["status"] == "succeeded" and figures["sync"]["mode"] == "full"
    assert figures["sync"]["requests"] > 0 and figures["sync"]["peak_rss_bytes"] > 0
    assert figures["speedup"] > 0


def test_incremental_benchmark_runs_after_changes(bench_dirs):
    result = run_bench("incremental", bench_dirs)
    figures = result["figures"]
    assert figures["incremental"]["mode"] == "incremental"
    assert figures["incremental"]["events"] > 0
    assert figures["reload_requests"] > 0 and figures["ratio_reload_to_incremental"] > 0


def test_freshness_benchmark_times_payments_through_webhooks(bench_dirs):
    result = run_bench("freshness", bench_dirs)
    figures = result["figures"]
    assert len(figures["seconds"]) == figures["payments"] == 3
    assert figures["p95_s"] >= figures["p50_s"] > 0
    assert figures["nudged_runs"] >= 1  # the schedule (an hour) never fired: webhooks started them


@pytest.mark.browser
def test_pages_benchmark_loads_both_pages_in_chromium(bench_dirs):
    browser_or_skip()
    result = run_bench("pages", bench_dirs)
    pages = {key: value for key, value in result["figures"].items() if key != "console_peak_rss_mb"}
    assert set(pages) == {"customers", "dunning_queue", "home", "churn", "dunning"}
    assert all(page["cold_ms"] > 0 and page["warm_ms"] for page in pages.values())
    assert result["figures"]["console_peak_rss_mb"] > 0
