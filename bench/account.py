"""The benchmark's Stripe account: a generated sandbox account, cached, served by
`python -m sandbox serve` in its own process (as Stripe is another machine)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.synthetic_warehouse import CACHE, ROOT
from sandbox.generate import generate_account
from sandbox.server import DEFAULT_API_KEY
from sandbox.store import ACCOUNT_FILE

# What a full reload lists: (sandbox table, condition). Stripe does not list deleted customers.
LISTED = {
    "customers": "deleted = 0",
    "products": "1 = 1",
    "prices": "1 = 1",
    "subscriptions": "1 = 1",
    "invoices": "1 = 1",
    "invoice_payments": "1 = 1",
    "charges": "1 = 1",
}
PAGE_SIZE = 100
# The files whose code decides what the generator writes: a change regenerates the account.
_GENERATOR_FILES = ("generate.py", "billing.py", "shapes.py", "people.py", "store.py")


def _generator_digest() -> str:
    digest = hashlib.sha256()
    for name in _GENERATOR_FILES:
        digest.update((ROOT / "sandbox" / name).read_bytes())
    return digest.hexdigest()[:10]


def cached_account(customers: int, seed: int = 1, cache: Path = CACHE) -> Path:
    """A generated account of `customers` customers under data/bench/, made on first use."""
    path = cache / f"account-{customers}-s{seed}-{_generator_digest()}"
    if not (path / ACCOUNT_FILE).exists():
        partial = path.with_name(path.name + ".building")
        if partial.exists():
            for leftover in partial.iterdir():
                leftover.unlink()
        partial.mkdir(parents=True, exist_ok=True)
        print(f"generating a sandbox account of {customers:,} customers (once, cached in {path})", flush=True)
        generate_account(partial, customers=customers, months=24, seed=seed)
        os.replace(partial, path)
    return path


def listed_objects(account: Path) -> dict[str, int]:
    """Objects a full reload lists, per resource."""
    db = sqlite3.connect(f"file:{account / ACCOUNT_FILE}?mode=ro", uri=True)
    try:
        # Names and conditions are this module's constants.
        return {
            name: db.execute(f"SELECT count(*) FROM {name} WHERE {where}").fetchone()[0]  # noqa: S608
            for name, where in LISTED.items()
        }
    finally:
        db.close()


def account_customers(account: Path) -> int:
    """Customers the account was generated with, deleted ones included."""
    db = sqlite3.connect(f"file:{account / ACCOUNT_FILE}?mode=ro", uri=True)
    try:
        return db.execute("SELECT count(*) FROM customers").fetchone()[0]
    finally:
        db.close()


def reload_requests(objects: dict[str, int]) -> int:
    """Requests a generic loader makes to list everything: one per page of 100, per resource."""
    return sum(max(1, -(-count // PAGE_SIZE)) for count in objects.values())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class ServedAccount:
    base_url: str
    api_key: str
    process: subprocess.Popen


@contextmanager
def serve(
    account: Path, log: Path, latency_ms: float, rate_limit: float, webhooks: tuple[str, str] | None = None
) -> Iterator[ServedAccount]:
    """`python -m sandbox serve` on a free loopback port, until the block ends; with
    `webhooks` (url, signing secret) it sends every new event there."""
    port = free_port()
    command = [sys.executable, "-m", "sandbox", "serve", "--data", str(account), "--port", str(port),
               "--latency-ms", str(latency_ms), "--rate-limit", str(rate_limit)]  # fmt: skip
    env = dict(os.environ)
    if webhooks is not None:
        command += ["--webhook-url", webhooks[0]]
        env["SANDBOX_WEBHOOK_SECRET"] = webhooks[1]  # never argv
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        # Serving starts after the account is copied to a working copy: seconds for a big one.
        deadline = time.monotonic() + 600
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/_sandbox/info", timeout=5) as answer:  # noqa: S310
                    json.loads(answer.read())
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the sandbox did not start, see {log}") from None
                time.sleep(0.5)
        yield ServedAccount(base_url, DEFAULT_API_KEY, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def apply_changes(served: ServedAccount, count: int, log: Path, seed: int = 5) -> str:
    """`python -m sandbox change --url ... --count N`, as an operator would; its answer."""
    answer = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox",
            "change",
            "--url",
            served.base_url,
            "--count",
            str(count),
            "--seed",
            str(seed),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    log.write_text(answer.stdout + answer.stderr)
    if answer.returncode != 0:
        raise RuntimeError(f"sandbox change failed ({answer.returncode}), see {log}")
    return answer.stdout.strip()
