"""What shipping the published warehouse to a console host costs (sync/snapshot_server.py,
sync/snapshot_pull.py): the first pull of a new snapshot (the server digests the file once,
then sends it whole), a second host's pull of the same snapshot (digest cached), and a pull
when nothing changed (one request, no body).

`python -m bench.shipping WAREHOUSE` on a copy of a built warehouse
(bench/synthetic_warehouse.py), the server and the pullers as real processes on loopback:
so the figures leave out the network between hosts (a 1 Gbit/s link moves about
110 MB/s, which would dominate) and show what the two ends cost.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pull(url: str, db: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit code of one `python -m sync.snapshot_pull`."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "sync.snapshot_pull", "--from", url, "--to", str(db)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main(source: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-shipping-"))
    try:
        published = work / "sync-host" / "billing.duckdb"
        published.parent.mkdir()
        shutil.copyfile(source, published)
        with duckdb.connect(str(published)) as con:  # as a publication leaves it: an id of its own
            con.execute(
                "INSERT OR REPLACE INTO sync_state VALUES ('snapshot_id', ?, now())", [uuid.uuid4().hex]
            )
        size = published.stat().st_size
        token = secrets.token_urlsafe(32)
        env = {**os.environ, "SNAPSHOT_TOKEN": token, "CONSOLE_SECRETS_FILE": str(work / "none.toml")}
        port = _free_port()
        log = work / "server.log"
        with log.open("w") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "sync.snapshot_server", "--listen", f"127.0.0.1:{port}", "--db",
                 str(published)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}/snapshot"
        try:
            probe = urllib.request.Request(url, method="OPTIONS")  # any answer: it listens
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(probe, timeout=2)  # noqa: S310 -- our loopback server
                except urllib.error.HTTPError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            print(f"warehouse {source.name}: {size / 1e6:,.0f} MB; load average {_load()}")
            for what, host in (
                ("new snapshot", "a"),
                ("same snapshot, second host", "b"),
                ("unchanged", "a"),
            ):
                seconds, rss, code = _pull(url, work / f"host-{host}" / "billing.duckdb", env)
                print(f"  {what}: {seconds:.2f} s, puller peak RSS {rss:,.0f} MB, exit {code}")
        finally:
            server.terminate()
            usage = os.wait4(server.pid, 0)[2]
        print(f"  server peak RSS {usage.ru_maxrss / 1024:,.0f} MB; its log:")
        for line in log.read_text().splitlines():
            print(f"    {line}")
        print(f"load average after: {_load()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
