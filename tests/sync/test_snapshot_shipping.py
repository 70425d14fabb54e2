"""The published warehouse shipped to console hosts: the snapshot server on the sync host,
a puller on each console host (sync/snapshot_server.py, sync/snapshot_pull.py), over HTTP on
loopback, with real warehouses made by the sync against the sandbox."""

from __future__ import annotations

import base64
import hashlib
import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from console.warehouse import snapshots
from sandbox.testing import SandboxHandle
from sync.snapshot_pull import PullFailed, TokenRefused, pull, source
from sync.snapshot_server import SNAPSHOT_PATH, SnapshotServer
from tests.conftest import ROOT
from tests.sync.test_sync_sandbox import run

TOKEN = "a-token-of-the-tests-0123456789abcdef"
SENT = "sent to"


def snapshot_id(db: Path) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT value FROM sync_state WHERE name = 'snapshot_id'").fetchone()[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.glob(f"{db.name}.pull-*"))


@pytest.fixture
def sync_db(sandbox: SandboxHandle, tmp_path: Path) -> Path:
    """The sync host's published warehouse, after a backfill."""
    db = tmp_path / "sync-host" / "billing.duckdb"
    run(sandbox, db)
    return db


@pytest.fixture
def server(sync_db: Path) -> Iterator[SnapshotServer]:
    served = SnapshotServer(sync_db, TOKEN)
    yield served
    served.close()


@pytest.fixture
def host_db(tmp_path: Path) -> Path:
    """A console host's warehouse path (its own folder)."""
    return tmp_path / "console-host" / "data" / "billing.duckdb"


def sends(caplog: pytest.LogCaptureFixture) -> int:
    found = sum(SENT in r.getMessage() for r in caplog.records if r.name == "sync.snapshot_server")
    caplog.clear()
    return found


def test_a_pull_brings_the_published_file_once_then_each_new_snapshot(
    sandbox: SandboxHandle, sync_db: Path, server: SnapshotServer, host_db: Path, caplog
) -> None:
    caplog.set_level(logging.INFO)
    origin = source(server.url)
    assert pull(origin, host_db, TOKEN) == snapshot_id(sync_db)
    assert sha256(host_db) == sha256(sync_db)
    assert host_db.stat().st_mode & 0o777 == 0o600
    assert sends(caplog) == 1

    # Unchanged: one small request, no body, the file is not touched.
    inode = host_db.stat().st_ino
    assert pull(origin, host_db, TOKEN) is None
    assert sends(caplog) == 0 and host_db.stat().st_ino == inode

    # A console reading the host's file keeps its snapshot; a new run's is picked up by the next pull.
    reader = snapshots.open_snapshot(host_db)
    first, first_version = snapshot_id(host_db), snapshots.snapshot_version(host_db)
    run(sandbox, sync_db)
    assert pull(origin, host_db, TOKEN) == snapshot_id(sync_db) != first
    assert snapshot_id(host_db) == snapshot_id(sync_db)
    assert snapshots.snapshot_version(host_db) != first_version
    assert sends(caplog) == 1
    assert snapshots.cursor(reader).execute("SELECT count(*) FROM customers").fetchone()[0] > 0
    assert leftovers(host_db) == []


def test_a_wrong_token_is_refused_and_changes_nothing(
    sandbox: SandboxHandle, sync_db: Path, server: SnapshotServer, host_db: Path, caplog
) -> None:
    origin = source(server.url)
    pull(origin, host_db, TOKEN)
    before = sha256(host_db)
    run(sandbox, sync_db)  # a new snapshot the host may not have
    for wrong in ("not-the-token", "", TOKEN[:-1]):
        with pytest.raises(TokenRefused, match="SNAPSHOT_TOKEN"):
            pull(origin, host_db, wrong)
    assert sha256(host_db) == before and leftovers(host_db) == []
    # The command: one line, exit 2 (a setting to fix), the token in no output.
    done = pull_command(server.url, host_db, token="a-wrong-token-but-long-enough-0123456789")
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith("refused SNAPSHOT_TOKEN (401): give it the snapshot server's token")
    )
    assert "a-wrong-token" not in done.stderr
    refusals = [r.getMessage() for r in caplog.records if r.name == "sync.snapshot_server"]
    assert len(refusals) == 4 and all("no or wrong token" in m for m in refusals)
    assert not any(secret in m for m in refusals for secret in ("not-the-token", TOKEN[:-1], "a-wrong-token"))
    assert sha256(host_db) == before


def test_before_the_first_sync_run_there_is_nothing_to_pull(tmp_path: Path, host_db: Path) -> None:
    empty = SnapshotServer(tmp_path / "sync-host" / "billing.duckdb", TOKEN)
    try:
        with pytest.raises(PullFailed, match="answered 503: no warehouse published yet"):
            pull(source(empty.url), host_db, TOKEN)
    finally:
        empty.close()
    assert not host_db.exists() and leftovers(host_db) == []


def pull_command(url: str, db: Path, token: str = TOKEN) -> subprocess.CompletedProcess:
    env = {**os.environ, "SNAPSHOT_TOKEN": token, "CONSOLE_SECRETS_FILE": str(db.parent / "none.toml")}
    return subprocess.run(
        [sys.executable, "-m", "sync.snapshot_pull", "--from", url, "--to", str(db)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


class FaultyCopy(ThreadingHTTPServer):
    """Stands for the network between the hosts: relays the snapshot server's answer with a
    fault: "short" (the connection drops halfway), "altered" (one byte changed on the way),
    "not a warehouse" (other bytes, with their own correct digest), "stalled" (halfway, then
    nothing more until closed)."""

    def __init__(self, upstream: str, fault: str) -> None:
        super().__init__(("127.0.0.1", 0), _Faulty)
        parts = source(upstream)
        connection = http.client.HTTPConnection(parts.host, parts.port, timeout=30)
        connection.request("GET", parts.path, headers={"Authorization": f"Bearer {TOKEN}"})
        answer = connection.getresponse()
        self.headers = dict(answer.getheaders())
        self.body = answer.read()
        connection.close()
        self.fault = fault
        self.release = threading.Event()
        self.url = f"http://127.0.0.1:{self.server_address[1]}{SNAPSHOT_PATH}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


class _Faulty(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        copy: FaultyCopy = self.server  # type: ignore[assignment]
        body, headers = copy.body, dict(copy.headers)
        if copy.fault == "altered":
            body = body[:100] + bytes([body[100] ^ 1]) + body[101:]
        if copy.fault == "not a warehouse":
            body = os.urandom(len(body))
            digest = hashlib.sha256(body).digest()
            headers["Repr-Digest"] = f"sha-256=:{base64.b64encode(digest).decode()}:"
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if copy.fault in ("short", "stalled"):
            self.wfile.write(body[: len(body) // 2])
            if copy.fault == "stalled":
                copy.release.wait(60)
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("short", "download cut short"),
        ("altered", "SHA-256 does not match"),
        ("not a warehouse", "not a readable DuckDB warehouse"),
    ],
)
def test_a_download_that_is_not_the_announced_snapshot_is_not_used(
    sandbox: SandboxHandle, sync_db: Path, server: SnapshotServer, host_db: Path, fault: str, reason: str
) -> None:
    pull(source(server.url), host_db, TOKEN)
    before = sha256(host_db)
    run(sandbox, sync_db)
    faulty = FaultyCopy(server.url, fault)
    try:
        with pytest.raises(PullFailed, match=reason):
            pull(source(faulty.url), host_db, TOKEN)
    finally:
        faulty.close()
    assert sha256(host_db) == before and leftovers(host_db) == []


def test_a_killed_pull_keeps_the_old_snapshot_and_the_next_one_cleans_up(
    sandbox: SandboxHandle, sync_db: Path, server: SnapshotServer, host_db: Path
) -> None:
    pull(source(server.url), host_db, TOKEN)
    before = sha256(host_db)
    run(sandbox, sync_db)
    faulty = FaultyCopy(server.url, "stalled")
    env = {**os.environ, "SNAPSHOT_TOKEN": TOKEN, "CONSOLE_SECRETS_FILE": str(host_db.parent / "none.toml")}
    puller = subprocess.Popen(
        [sys.executable, "-m", "sync.snapshot_pull", "--from", faulty.url, "--to", str(host_db)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size for p in host_db.parent.glob("*.pull-*")):
            assert puller.poll() is None and time.monotonic() < deadline, "the pull never started writing"
            time.sleep(0.05)
        puller.send_signal(signal.SIGKILL)
        puller.wait(timeout=30)
    finally:
        faulty.close()
    assert sha256(host_db) == before and len(leftovers(host_db)) == 1
    assert pull(source(server.url), host_db, TOKEN) == snapshot_id(sync_db)
    assert leftovers(host_db) == []


def test_the_file_being_sent_is_never_written_by_the_next_runs(
    sandbox: SandboxHandle, sync_db: Path, server: SnapshotServer, caplog
) -> None:
    """A slow host downloads the live file while the sync publishes twice: the served file
    becomes the standby, which the second run must not reuse (it is held, like a console's)."""
    caplog.set_level(logging.INFO, logger="sync")
    run(sandbox, sync_db)  # the live file now has a standby behind it
    parts = source(server.url)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((parts.host, parts.port))
    slow.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    answer = http.client.HTTPResponse(slow)
    answer.begin()
    announced = answer.getheader("Repr-Digest")
    first = answer.read(1000)
    run(sandbox, sync_db)  # the file being sent becomes the standby...
    caplog.clear()
    run(sandbox, sync_db)  # ...which this run may not catch up in place
    assert not any("from the standby" in r.getMessage() for r in caplog.records)
    received = first + answer.read()
    slow.close()
    assert f"sha-256=:{base64.b64encode(hashlib.sha256(received).digest()).decode()}:" == announced
