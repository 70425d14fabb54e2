"""Measure how many list pages of 100 objects per second the sandbox serves.

    python -m sandbox.throughput --data DIR [--seconds 5] [--clients 2] [--resource invoices]

Starts a server on the account (no faults), then `clients` threads each page through
the resource with keep-alive connections (as the sync does), newest first, starting
again from the top when they reach the end. Prints pages/s and MB/s.
"""

from __future__ import annotations

import http.client
import json
import re
import sqlite3
import sys
import threading
import time
from pathlib import Path

from sandbox.store import PREFIXES
from sandbox.testing import running_sandbox
from settings.command_line import BAD_INPUT, OneLineParser, directory, number


def page_through(
    port: int, key: str, resource: str, until: float, counts: list[int], sizes: list[int]
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}"}
    prefix = next(p for p, r in PREFIXES.items() if r == resource)
    last_id = re.compile(rb'\{"id":"(' + prefix.encode() + rb'[A-Za-z0-9]+)"')
    tail = b'"has_more":true,"url":"/v1/' + resource.encode() + b'"}'
    cursor = None
    pages = size = 0
    while time.monotonic() < until:
        path = f"/v1/{resource}?limit=100" + (f"&starting_after={cursor}" if cursor else "")
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{answer.status}: {body[:200]!r}")
        pages += 1
        size += len(body)
        # The cursor is the last object's id; found without parsing so that the client's
        # JSON work does not hide the server's speed (objects start with their id).
        cursor = last_id.findall(body)[-1].decode() if body.endswith(tail) else None
    connection.close()
    counts.append(pages)
    sizes.append(size)


def measure(data: Path, seconds: float, clients: int, resource: str) -> dict[str, float]:
    # In place: nothing is written, and a large account is not copied first.
    with running_sandbox(data, in_place=True) as handle:
        port = int(handle.base_url.rsplit(":", 1)[1])
        counts: list[int] = []
        sizes: list[int] = []
        until = time.monotonic() + seconds
        threads = [
            threading.Thread(target=page_through, args=(port, handle.api_key, resource, until, counts, sizes))
            for _ in range(clients)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    return {
        "pages_per_second": round(sum(counts) / elapsed, 1),
        "megabytes_per_second": round(sum(sizes) / elapsed / 1e6, 1),
        "pages": sum(counts),
        "seconds": round(elapsed, 2),
        "clients": clients,
    }


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m sandbox.throughput", description=__doc__)
    parser.add_argument("--data", type=directory, required=True)
    parser.add_argument("--seconds", type=number(0, 3600, above_minimum=True), default=5.0)
    parser.add_argument("--clients", type=number(1, 64, integer=True), default=2)
    parser.add_argument("--resource", choices=sorted(PREFIXES.values()), default="invoices")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(measure(args.data, args.seconds, args.clients, args.resource)))
    except (FileNotFoundError, sqlite3.DatabaseError) as error:
        print(f"python -m sandbox.throughput: argument --data: {error}", file=sys.stderr)
        return BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
