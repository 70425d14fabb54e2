"""Bad command-line input, for every command an operator runs: one line, the right exit code.

Each row of COMMAND_LINES runs the command as a subprocess, exactly as typed in a shell,
and expects: the exit code (2 bad input, 1 runtime failure), exactly one line on
stderr naming the problem (every word of `words` in it), no traceback.

To cover another command, add rows: `argv` after `python -m`; `{placeholders}` are filled
in by `fill` below, in the arguments and in the row's environment (`env`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import ROOT


class CommandLine(NamedTuple):
    argv: tuple[str, ...]  # after `python -m`
    exit_code: int
    words: tuple[str, ...]  # all must appear in the one line on stderr
    env: tuple[tuple[str, str], ...] = ()  # settings for this row


def line(argv: str, exit_code: int, *words: str, **env: str) -> CommandLine:
    """A row: `argv` split on spaces; `''` stands for an empty argument."""
    args = tuple("" if a == "''" else a for a in argv.split(" "))
    return CommandLine(args, exit_code, words, tuple(env.items()))


BAD_INPUT, FAILURE = 2, 1
SYNC_LINES = [
    line("sync --rate nan", BAD_INPUT, "--rate", "nan"),
    line("sync --rate inf", BAD_INPUT, "--rate", "inf"),
    line("sync --rate -1", BAD_INPUT, "--rate", "-1"),
    line("sync --rate 0", BAD_INPUT, "--rate"),
    line("sync --rate 1e400", BAD_INPUT, "--rate"),
    line("sync --rate fast", BAD_INPUT, "--rate", "fast"),
    line("sync --rate", BAD_INPUT, "--rate", "expected one argument"),
    line("sync --workers 0", BAD_INPUT, "--workers"),
    line("sync --workers -3", BAD_INPUT, "--workers"),
    line("sync --workers 1000000", BAD_INPUT, "--workers", "64"),
    line("sync --workers 2.5", BAD_INPUT, "--workers", "whole number"),
    line("sync --workers nan", BAD_INPUT, "--workers"),
    line("sync --every ''", BAD_INPUT, "--every"),
    line("sync --every -5m", BAD_INPUT, "--every"),
    line("sync --every nan", BAD_INPUT, "--every"),
    line("sync --every inf", BAD_INPUT, "--every"),
    line("sync --every 99999999999999999999d", BAD_INPUT, "--every", "30d"),
    line("sync --db ''", BAD_INPUT, "--db", "empty"),
    line("sync --db {dir}", BAD_INPUT, "--db", "is a directory"),
    line("sync --db {file}/billing.duckdb", BAD_INPUT, "--db", "is a file"),
    line("sync --full=yes", BAD_INPUT, "--full"),
    line("sync --no-such-option", BAD_INPUT, "unrecognized arguments", "--no-such-option"),
    line("sync extra", BAD_INPUT, "unrecognized arguments", "extra"),
    line("sync --db {file}", FAILURE, "is damaged", "run `python -m sync --full`"),  # not a DuckDB file
]
TOKEN = "a-snapshot-token-of-the-command-line-tests"
SNAPSHOT_LINES = [
    line("sync.snapshot_server", BAD_INPUT, "SNAPSHOT_TOKEN", "is not set"),
    line("sync.snapshot_server", BAD_INPUT, "SNAPSHOT_TOKEN", "shorter than 32", SNAPSHOT_TOKEN="short"),
    line("sync.snapshot_server --listen 8503", BAD_INPUT, "--listen", "HOST:PORT", SNAPSHOT_TOKEN=TOKEN),
    line("sync.snapshot_server --listen 127.0.0.1:0", BAD_INPUT, "--listen", SNAPSHOT_TOKEN=TOKEN),
    line(
        "sync.snapshot_server --listen 127.0.0.1:{busy_port}",
        BAD_INPUT,
        "cannot listen",
        SNAPSHOT_TOKEN=TOKEN,
    ),
    line("sync.snapshot_server --db {dir}", BAD_INPUT, "--db", "is a directory", SNAPSHOT_TOKEN=TOKEN),
    line("sync.snapshot_pull", BAD_INPUT, "--from", "required"),
    line("sync.snapshot_pull --from 127.0.0.1:8503", BAD_INPUT, "--from", "http://"),
    line("sync.snapshot_pull --from ftp://127.0.0.1/snapshot", BAD_INPUT, "--from", "http://"),
    line("sync.snapshot_pull --from http://127.0.0.1:port/snapshot", BAD_INPUT, "--from", "not a URL"),
    line(
        "sync.snapshot_pull --from http://u:pw@127.0.0.1:9/snapshot",
        BAD_INPUT,
        "credentials",
        "SNAPSHOT_TOKEN",
    ),
    line("sync.snapshot_pull --from http://127.0.0.1:9/snapshot", BAD_INPUT, "SNAPSHOT_TOKEN", "is not set"),
    line("sync.snapshot_pull --from http://127.0.0.1:9 --to {dir}", BAD_INPUT, "--to", "is a directory"),
    line(
        "sync.snapshot_pull --from http://127.0.0.1:9 --every soon",
        BAD_INPUT,
        "--every",
        SNAPSHOT_TOKEN=TOKEN,
    ),
    line(
        "sync.snapshot_pull --from http://127.0.0.1:9 --to {dir}/b.duckdb",
        FAILURE,
        "cannot reach",
        "127.0.0.1:9",
        SNAPSHOT_TOKEN=TOKEN,
    ),
]
SANDBOX_LINES = [
    line("sandbox", BAD_INPUT, "command"),
    line("sandbox teleport", BAD_INPUT, "invalid choice", "teleport"),
    line("sandbox generate --out {dir}/account", BAD_INPUT, "--customers", "required"),
    line("sandbox generate --customers 0 --out {dir}/a", BAD_INPUT, "--customers"),
    line("sandbox generate --customers -5 --out {dir}/a", BAD_INPUT, "--customers"),
    line("sandbox generate --customers nan --out {dir}/a", BAD_INPUT, "--customers", "nan"),
    line("sandbox generate --customers 1e12 --out {dir}/a", BAD_INPUT, "--customers"),
    line("sandbox generate --customers 99999999999 --out {dir}/a", BAD_INPUT, "--customers", "1,000,000"),
    line("sandbox generate --customers 5 --months 0 --out {dir}/a", BAD_INPUT, "--months"),
    line("sandbox generate --customers 5 --months 100000 --out {dir}/a", BAD_INPUT, "--months"),
    line("sandbox generate --customers 5 --seed x --out {dir}/a", BAD_INPUT, "--seed"),
    line("sandbox generate --customers 5 --now yesterday --out {dir}/a", BAD_INPUT, "--now"),
    line("sandbox generate --customers 5 --now 1066-10-14 --out {dir}/a", BAD_INPUT, "--now"),
    line("sandbox generate --customers 5 --now 9999-12-31 --out {dir}/a", BAD_INPUT, "--now"),
    line("sandbox generate --customers 5 --out ''", BAD_INPUT, "--out", "empty"),
    line("sandbox generate --customers 5 --out {file}", BAD_INPUT, "--out", "is a file"),
    line("sandbox generate --customers 5 --out {file}/account", BAD_INPUT, "--out", "Not a directory"),
    line("sandbox generate --customers 5 --out /proc/no-such/account", BAD_INPUT, "--out", "/proc/no-such"),
    line("sandbox serve", BAD_INPUT, "--data", "required"),
    line("sandbox serve --data {missing}", BAD_INPUT, "--data", "no account"),
    line("sandbox serve --data {file}", BAD_INPUT, "--data", "is a file"),
    line("sandbox serve --data {not_an_account}", BAD_INPUT, "--data", "not a database"),
    line("sandbox serve --data {account} --port 99999", BAD_INPUT, "--port", "99999"),
    line("sandbox serve --data {account} --port -1", BAD_INPUT, "--port"),
    line("sandbox serve --data {account} --port http", BAD_INPUT, "--port"),
    line("sandbox serve --data {account} --port {busy_port}", FAILURE, "cannot serve", "{busy_port}"),
    line("sandbox serve --data {account} --latency-ms -5", BAD_INPUT, "--latency-ms", "-5"),
    line("sandbox serve --data {account} --latency-ms nan", BAD_INPUT, "--latency-ms"),
    line("sandbox serve --data {account} --latency-ms 1e9", BAD_INPUT, "--latency-ms"),
    line("sandbox serve --data {account} --rate-limit -1", BAD_INPUT, "--rate-limit", "-1"),
    line("sandbox serve --data {account} --rate-limit inf", BAD_INPUT, "--rate-limit"),
    line("sandbox serve --data {account} --error-rate 1.5", BAD_INPUT, "--error-rate"),
    line("sandbox serve --data {account} --drop-rate nan", BAD_INPUT, "--drop-rate"),
    line("sandbox serve --data {account} --truncate-rate -0.1", BAD_INPUT, "--truncate-rate"),
    line("sandbox serve --data {account} --fault-seed 1.5", BAD_INPUT, "--fault-seed"),
    line("sandbox serve --data {account} --portal-ttl -1", BAD_INPUT, "--portal-ttl"),
    line("sandbox serve --data {account} --portal-ttl 1e99", BAD_INPUT, "--portal-ttl"),
    line("sandbox serve --data {account} --api-key ''", BAD_INPUT, "--api-key"),
    line("sandbox serve --data {account} --api-key pk_live_x", BAD_INPUT, "--api-key"),
    line("sandbox serve --data {account} --restricted-key rk_test_a=admin", BAD_INPUT, "--restricted-key"),
    line("sandbox serve --data {account} --restricted-key ''", BAD_INPUT, "--restricted-key"),
    line("sandbox change", BAD_INPUT, "--url", "required"),
    line("sandbox change --url ''", BAD_INPUT, "--url"),
    line("sandbox change --url 127.0.0.1:12111", BAD_INPUT, "--url"),
    line("sandbox change --url http://[::1", BAD_INPUT, "--url"),
    line("sandbox change --url http://127.0.0.1:port", BAD_INPUT, "--url"),
    line("sandbox change --url http://127.0.0.1:9 --count 0", BAD_INPUT, "--count"),
    line("sandbox change --url http://127.0.0.1:9 --count 1e9", BAD_INPUT, "--count"),
    line("sandbox change --url http://127.0.0.1:9 --seed nan", BAD_INPUT, "--seed"),
    line("sandbox change --url http://127.0.0.1:9", FAILURE, "could not reach", "127.0.0.1:9"),
    line("sandbox.throughput --data {missing}", BAD_INPUT, "--data", "no account"),
    line("sandbox.throughput --data {account} --seconds 0", BAD_INPUT, "--seconds"),
    line("sandbox.throughput --data {account} --seconds inf", BAD_INPUT, "--seconds"),
    line("sandbox.throughput --data {account} --clients 0", BAD_INPUT, "--clients"),
    line("sandbox.throughput --data {account} --resource refunds", BAD_INPUT, "--resource", "refunds"),
]
BENCH_LINES = [
    line("bench teleport", BAD_INPUT, "unknown benchmark", "teleport"),
    line("bench --account-customers 0", BAD_INPUT, "--account-customers"),
    line("bench --account-customers -1", BAD_INPUT, "--account-customers"),
    line("bench --account-customers lots", BAD_INPUT, "--account-customers"),
    line("bench --account-customers 1e99", BAD_INPUT, "--account-customers"),
    line("bench --out {file}", BAD_INPUT, "--out", "is a file"),
    line("bench --out ''", BAD_INPUT, "--out", "empty"),
    line("bench --cache {file}", BAD_INPUT, "--cache", "is a file"),
    line("bench --cache {file}/cache --small backfill", BAD_INPUT, "Not a directory"),
]
CONSOLE_LINES = [
    line("console.users", BAD_INPUT, "required", "command"),
    line("console.users teleport", BAD_INPUT, "invalid choice", "teleport"),
    line("console.users add", BAD_INPUT, "username"),
    line("console.users add bob --role nope", BAD_INPUT, "--role", "nope"),
    line("console.users add bob --role support", BAD_INPUT, "--password-stdin"),  # no terminal
    line("console.users add B@D --role support --password-stdin", BAD_INPUT, "username"),
    line("console.users set-role nobody admin", BAD_INPUT, "no user", "nobody"),
    line("console.users set-role bob king", BAD_INPUT, "invalid choice", "king"),
    line("console.users remove nobody", BAD_INPUT, "no user"),
    line("console.users unlock", BAD_INPUT, "username", "--client"),
    line("console.users list", BAD_INPUT, "USERS_FILE", "folder", USERS_FILE="{dir}"),
    line("console.users list", BAD_INPUT, "users file", "cannot be read", USERS_FILE="{not_yaml}"),
    line("console.users list", BAD_INPUT, "not a users file", USERS_FILE="{file}"),
    line("console.users unlock bob", FAILURE, "ops store", "cannot be used", OPS_DB="{not_sqlite}"),
    line("console.users set-role bob admin", BAD_INPUT, "no user", USERS_FILE="{missing}/users.yaml"),
    line("console.users list", BAD_INPUT, "COOKIE_EXPIRY_HOURS", COOKIE_EXPIRY_HOURS="soon"),
    line("console.users unlock bob", BAD_INPUT, "OPS_DB", "postgresql://", OPS_DB="mysql://u:pw@h/db"),
    line("console.users unlock bob", BAD_INPUT, "ops store", "cannot be reached", OPS_DB="{no_postgresql}"),
    line("console.ops_migrate", BAD_INPUT, "command"),
    line("console.ops_migrate copy", BAD_INPUT, "--from"),
    line("console.ops_migrate copy --from {missing}/ops.sqlite3 --to {no_postgresql}", BAD_INPUT, "--from"),
    line("console.ops_migrate copy --from {not_sqlite}", BAD_INPUT, "--to", "postgresql://"),
    line("console.ops_migrate upgrade", FAILURE, "ops store", "cannot be used", OPS_DB="{not_sqlite}"),
    line("console.ops_migrate upgrade", BAD_INPUT, "cannot be reached", OPS_DB="{no_postgresql}"),
    line("console.report", BAD_INPUT, "table"),
    line("console.report churn --db ''", BAD_INPUT, "--db", "path"),
    line("console.report churn --db {dir}", BAD_INPUT, "--db", "folder"),
    line("console.report churn --db {missing}/billing.duckdb", BAD_INPUT, "No warehouse"),
    line("console.report churn --db {file}", FAILURE, "cannot read the warehouse"),
    line("console.report dunning --since 2025-13", BAD_INPUT, "--since", "2025-13"),
    line("console.report dunning --since ''", BAD_INPUT, "--since"),
    line("console.report dunning --format xml", BAD_INPUT, "--format", "xml"),
]
COMMAND_LINES = SYNC_LINES + SNAPSHOT_LINES + SANDBOX_LINES + BENCH_LINES + CONSOLE_LINES


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.fixture
def fill(tmp_path: Path, sandbox_account: Path, busy_port: int) -> dict[str, str]:
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "not-an-account").mkdir()
    (tmp_path / "not-an-account" / "account.sqlite").write_text("not SQLite\n")
    (tmp_path / "not-yaml").write_text("credentials: [unclosed\n")
    (tmp_path / "not-sqlite").write_bytes(b"not an ops store" * 300)
    return {
        "not_yaml": str(tmp_path / "not-yaml"),
        "not_sqlite": str(tmp_path / "not-sqlite"),
        "file": str(tmp_path / "a-file"),
        "dir": str(tmp_path / "folder"),
        "missing": str(tmp_path / "no-such-folder"),
        "not_an_account": str(tmp_path / "not-an-account"),
        "account": str(sandbox_account),
        "busy_port": str(busy_port),
        "no_postgresql": f"postgresql://console@127.0.0.1:{busy_port}/billing_ops",  # not PostgreSQL
    }


def command_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "BILLING_", "SANDBOX_"))}
    # A key, and a Stripe address on loopback where nothing listens: only the input is wrong.
    env.update(
        CONSOLE_SECRETS_FILE=str(tmp_path / "no-secrets.toml"),
        STRIPE_API_KEY="sk_test_command_line",
        STRIPE_API_BASE="http://127.0.0.1:9",
        USERS_FILE=str(tmp_path / "users.yaml"),
        OPS_DB=str(tmp_path / "ops.sqlite3"),
    )
    return env


@pytest.mark.parametrize("case", COMMAND_LINES, ids=lambda case: " ".join(case.argv) or "''")
def test_bad_input_gets_one_line_and_its_exit_code(
    case: CommandLine, fill: dict[str, str], tmp_path: Path
) -> None:
    argv = [arg.format(**fill) for arg in case.argv]
    env = {**command_env(tmp_path), **{name: value.format(**fill) for name, value in case.env}}
    done = subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == case.exit_code, done.stderr
    assert len(lines) == 1, done.stderr
    for word in case.words:
        assert word.format(**fill) in lines[0], lines[0]
    assert not done.stdout.strip(), done.stdout
