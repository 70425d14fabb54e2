"""`python -m sync` as an operator runs it: exit codes, one run at a time, killed mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sync
from sandbox.testing import SandboxHandle, running_sandbox
from sync.__main__ import parse_interval
from tests.conftest import ROOT
from tests.sync.account_check import assert_matches_account, query


def command_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "BILLING_"))}
    env["CONSOLE_SECRETS_FILE"] = str(tmp_path / "no-secrets.toml")
    env.update(settings)
    return env


def sync_command(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sync", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_missing_key_is_bad_configuration(tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    done = sync_command("--db", str(db), env=command_env(tmp_path))
    assert done.returncode == 2
    assert "STRIPE_SYNC_API_KEY" in done.stderr.strip().splitlines()[-1]
    assert not db.exists()


@pytest.mark.parametrize(
    ("args", "settings", "named"),
    [
        (["--every", "soon"], {}, "--every"),
        (["--rate", "0"], {}, "--rate"),
        ([], {"STRIPE_API_BASE": "localhost:12111"}, "STRIPE_API_BASE"),
        (["--every", "1h", "--listen", "127.0.0.1:8502"], {}, "STRIPE_WEBHOOK_SECRET"),
        (["--every", "1h", "--listen", "127.0.0.1"], {"STRIPE_WEBHOOK_SECRET": "whsec_x"}, "--listen"),
        (["--listen", "127.0.0.1:8502"], {"STRIPE_WEBHOOK_SECRET": "whsec_x"}, "--every"),
    ],
)
def test_malformed_settings_are_bad_configuration(
    tmp_path: Path, args: list[str], settings: dict[str, str], named: str
) -> None:
    env = command_env(tmp_path, STRIPE_API_KEY="sk_test_x", **settings)
    done = sync_command("--db", str(tmp_path / "billing.duckdb"), *args, env=env)
    assert done.returncode == 2
    assert named in done.stderr.strip().splitlines()[-1]


def test_refused_key_exits_3_and_is_recorded(sandbox: SandboxHandle, tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    env = command_env(
        tmp_path, STRIPE_SYNC_API_KEY="sk_test_not_the_right_one", STRIPE_API_BASE=sandbox.base_url
    )
    done = sync_command("--db", str(db), env=env)
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "refused" in last and "sk_test_not_the_right_one" not in done.stderr
    assert query(db, "SELECT mode, status FROM sync_runs") == [("full", "failed")]


def test_killed_run_then_rerun_converges(own_account: Path, tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    with running_sandbox(own_account, latency_ms=40) as handle:
        env = command_env(tmp_path, STRIPE_SYNC_API_KEY=handle.api_key, STRIPE_API_BASE=handle.base_url)
        first = subprocess.Popen(
            [sys.executable, "-m", "sync", "--db", str(db), "--workers", "2", "--rate", "3"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            marker = db.with_name(db.name + ".running")
            deadline = time.monotonic() + 60
            while not (marker.exists() and len(handle.requests) >= 3):
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "the first sync never got going"
                time.sleep(0.05)

            # A second sync while the first runs: refused at once, nothing touched.
            second = sync_command("--db", str(db), env=env, timeout=30)
            assert second.returncode == 1
            assert "already running" in second.stderr.strip().splitlines()[-1]

            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        assert not db.exists()  # nothing published by the killed backfill
        assert db.with_name(db.name + ".next").exists()

        summary = sync.run(db, api_key=handle.api_key, api_base=handle.base_url, rate=500)
        assert_matches_account(db, Path(handle.server.db_path).parent)
    assert summary.mode == "full"
    assert not db.with_name(db.name + ".next").exists()
    assert query(db, "SELECT mode, status FROM sync_runs ORDER BY id") == [
        ("full", "interrupted"),
        ("full", "succeeded"),
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("1h", 3600), ("30s", 30), ("900", 900), ("1d", 86400)]
)
def test_every_intervals(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "0m", "-5m", "15 minutes", "m"])
def test_bad_every_intervals(text: str) -> None:
    with pytest.raises(sync.BadConfiguration, match="--every"):
        parse_interval(text)
