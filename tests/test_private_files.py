"""Data files the sync and the sandbox write are private (0600, folders 0700), and the
demo never puts a key on a child's command line (visible to every user in `ps`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from sandbox.generate import generate_account
from sandbox.server import DEFAULT_API_KEY
from sandbox.testing import running_sandbox
from tests.conftest import ROOT, free_port, wait_until_answering
from tests.sync.test_command import command_env


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes(folder: Path) -> dict[str, int]:
    found = {}
    for path in folder.rglob("*"):
        with contextlib.suppress(FileNotFoundError):  # removed while we looked
            found[str(path.relative_to(folder))] = mode(path)
    return found


def test_every_file_of_a_sync_run_is_private(sandbox_account: Path, tmp_path: Path) -> None:
    db = tmp_path / "warehouse" / "billing.duckdb"  # the sync makes the folder
    seen: dict[str, set[int]] = {}
    with running_sandbox(sandbox_account, latency_ms=20) as handle:  # changes go to its own copy
        env = command_env(tmp_path, STRIPE_SYNC_API_KEY=handle.api_key, STRIPE_API_BASE=handle.base_url)
        for args in (["--full"], []):  # a backfill, then an incremental run after changes
            child = subprocess.Popen(
                [sys.executable, "-m", "sync", "--db", str(db), "--workers", "2", *args],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            # Look while it runs: the snapshot, its WAL, the marker and the lock exist only then.
            while child.poll() is None:
                if db.parent.exists():
                    for name, found in modes(db.parent).items():
                        seen.setdefault(name, set()).add(found)
                time.sleep(0.01)
            assert child.returncode == 0, child.stderr.read()
            child.stderr.close()
            handle.apply_changes(20, seed=2)
    assert {"billing.duckdb.next", "billing.duckdb.running", "billing.duckdb.lock"} <= set(seen)
    assert mode(db.parent) == 0o700
    assert modes(db.parent) == {  # the standby: the file the incremental run replaced
        "billing.duckdb": 0o600,
        "billing.duckdb.lock": 0o600,
        "billing.duckdb.standby": 0o600,
    }
    loose = {name: sorted(oct(m) for m in found) for name, found in seen.items() if found - {0o600, 0o700}}
    assert loose == {}


def test_sandbox_account_and_working_copy_are_private(tmp_path: Path) -> None:
    out = tmp_path / "account"
    generate_account(out, customers=5, months=3, seed=1)
    assert mode(out) == 0o700
    assert modes(out) == {"account.sqlite": 0o600}
    with running_sandbox(out) as handle:
        handle.apply_changes(5, seed=1)  # the working copy's WAL exists once written to
        working = Path(handle.server.db_path).parent
        assert mode(working) == 0o700
        files = modes(working)
        assert {"account.sqlite", "account.sqlite-wal"} <= set(files)
        assert set(files.values()) == {0o600}


# Runs the demo with every child's command line logged (Python's subprocess.Popen
# audit event), so that even the short-lived children (the sync) are seen.
DEMO_WITH_ARGV_LOG = textwrap.dedent(
    """
    import json, runpy, sys
    log = open(sys.argv[1], "a")

    def record(event, args):
        if event == "subprocess.Popen":
            log.write(json.dumps([str(a) for a in args[1]]) + "\\n")
            log.flush()

    sys.addaudithook(record)
    sys.argv = ["sandbox.demo"]
    runpy.run_module("sandbox.demo", run_name="__main__")
    """
)


@pytest.mark.slow
def test_demo_passes_no_key_on_a_command_line(tmp_path: Path) -> None:
    from sandbox import demo

    argv_log = tmp_path / "argv.jsonl"
    console_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SANDBOX_"))},
        "DEMO_DIR": str(tmp_path / "demo"),
        "DEMO_CUSTOMERS": "8",
        "DEMO_SANDBOX_PORT": str(free_port()),
        "DEMO_CONSOLE_PORT": str(console_port),
    }
    output = (tmp_path / "demo.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", DEMO_WITH_ARGV_LOG, str(argv_log)],
        cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        health = f"http://127.0.0.1:{console_port}/_stcore/health"
        wait_until_answering(urllib.request.Request(health), process, tmp_path / "demo.log", 240)
    finally:
        process.send_signal(signal.SIGINT)  # as Ctrl-C: the demo stops the console and the sandbox
        process.wait(timeout=60)
        output.close()
    commands = [json.loads(row) for row in argv_log.read_text().splitlines()]
    started = {" ".join(argv[1:3]) for argv in commands}
    assert {"-m sandbox", "-m sync", "-m console.users", "-m streamlit"} <= started, started
    cookie_key = (tmp_path / "demo" / "cookie_key").read_text().strip()
    secrets = [demo.SYNC_KEY, demo.PORTAL_KEY, DEFAULT_API_KEY, cookie_key]
    leaked = [argv for argv in commands if any(secret in arg for secret in secrets for arg in argv)]
    assert leaked == []
    assert mode(tmp_path / "demo") == 0o700
    assert {
        path.name for path in (tmp_path / "demo").iterdir() if path.is_file() and mode(path) != 0o600
    } == set()


def test_the_ops_store_and_written_emails_are_private(tmp_path: Path) -> None:
    """The ops store holds outbox messages with portal links; the outbox folder holds them too."""
    from console.links.mail import write_eml
    from console.ops import audit, outbox
    from console.ops.store import OpsStore

    old = os.umask(0o022)  # a default umask: the files must be private anyway
    try:
        store = OpsStore(tmp_path / "ops" / "ops.sqlite3")
        outbox.record(
            store, request_key="k", customer_id="cus_1", sender="a@example.com",
            recipient="b@example.com", subject="s", message=b"link",
        )  # fmt: skip
        written = write_eml(tmp_path / "outbox", "m.eml", b"link")
        with store.connect() as conn:  # while a connection is open, the WAL and its index exist
            audit.insert(conn, audit.AuditEntry("sam", "support", "cus_1", "portal", "copy", "created"))
            files = [*(tmp_path / "ops").iterdir(), written]
            modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    finally:
        os.umask(old)
    assert {"ops.sqlite3", "ops.sqlite3-wal", "ops.sqlite3-shm", "m.eml"} <= set(modes)
    assert modes == dict.fromkeys(modes, "0o600")
