"""`python -m sync.snapshot_server`: the sync host serves its published warehouse to console hosts.

Each console host runs `python -m sync.snapshot_pull`, which downloads the published file
when its snapshot changed and renames it over that host's warehouse path (the same atomic
swap as a publication). One route, `GET /snapshot` (and `HEAD`): the body is the whole
file; the headers say which snapshot it is and how to check it:

- `ETag: "<snapshot_id>"` (sync_state's `snapshot_id`, new with every publication); a
  request with `If-None-Match` of the snapshot the host already has gets 304, no body;
- `Content-Length`, and `Repr-Digest: sha-256=:<base64>:` (RFC 9530) of the whole file,
  computed once per published file.

Every request needs `Authorization: Bearer <SNAPSHOT_TOKEN>` (the warehouse holds customer
data); the token is compared in constant time and never logged. The file is held with the
shared flock of every reader (warehouse_views/holding.py) from before its id is read until
the last byte is sent: the sync never writes a file a reader holds (it may otherwise reuse
that very inode as its next run's standby), so the bytes sent are one published snapshot.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb

from settings import Settings, SettingsError, load_settings
from settings.command_line import BAD_INPUT, OneLineParser, file_path, file_path_problem, host_port
from sync.job import BadConfiguration
from sync.publish import read_snapshot_id
from warehouse_views.holding import held

log = logging.getLogger("sync.snapshot_server")

SNAPSHOT_PATH = "/snapshot"
DIGEST_HEADER = "Repr-Digest"
MIN_TOKEN_CHARACTERS = 32
# A client that stops reading for this long frees its thread (and its hold on the file).
SEND_TIMEOUT_SECONDS = 60
_CHUNK = 1 << 20


def snapshot_token(settings: Settings) -> str:
    """The shared bearer token, or BadConfiguration saying how to make one."""
    token = settings.snapshot_token
    if not token or len(token) < MIN_TOKEN_CHARACTERS:
        problem = "is not set" if not token else f"is shorter than {MIN_TOKEN_CHARACTERS} characters"
        raise BadConfiguration(
            f"SNAPSHOT_TOKEN {problem}: make one with "
            '`python -c "import secrets; print(secrets.token_urlsafe(32))"` and give the same '
            "value to the snapshot server and every puller"
        )
    return token


def sha256_digest(digest: bytes) -> str:
    """The Repr-Digest value of a SHA-256 digest."""
    return f"sha-256=:{base64.b64encode(digest).decode()}:"


def file_sha256(fd: int, size: int) -> bytes:
    digest = hashlib.sha256()
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(_CHUNK, size - offset), offset)
        if not chunk:
            break
        digest.update(chunk)
        offset += len(chunk)
    return digest.digest()


@dataclass(frozen=True)
class Published:
    """What identifies the file being served."""

    snapshot_id: str
    size: int
    digest: str  # the Repr-Digest value


class SnapshotServer:
    """`GET /snapshot` on a background thread, serving the warehouse at `db`."""

    def __init__(self, db: Path, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.db = db
        self._token = token.encode()
        self._digests: dict[tuple[int, int, int, int], str] = {}  # (dev, inode, mtime, size)
        self._digesting = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _Requests)  # OSError: port taken, ...
        self.httpd.snapshots = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}{SNAPSHOT_PATH}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="snapshots", daemon=True
        )
        self._thread.start()
        log.info("serving the warehouse %s at %s", db, self.url)

    def authorized(self, header: str | None) -> bool:
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)

    def describe(self, fd: int, snapshot_id: str) -> Published:
        """The id, size and digest of the held file `fd` (the digest is read once per file)."""
        stat = os.fstat(fd)
        key = (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._digesting:  # two hosts asking for a new snapshot: it is read once
            if key not in self._digests:
                started = time.perf_counter()
                self._digests = {key: sha256_digest(file_sha256(fd, stat.st_size))}
                log.info(
                    "snapshot %s: %s bytes digested in %.1f s",
                    snapshot_id,
                    f"{stat.st_size:,}",
                    time.perf_counter() - started,
                )
            return Published(snapshot_id, stat.st_size, self._digests[key])

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _snapshot_id(con: duckdb.DuckDBPyConnection) -> str:
    found = read_snapshot_id(con)
    if found is None:
        raise duckdb.InvalidInputException("the warehouse has no snapshot id (published by an older sync)")
    return found


class _Requests(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "billing-snapshots"
    sys_version = ""
    timeout = SEND_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per answer below; the default access log would add nothing

    def do_GET(self) -> None:
        snapshots: SnapshotServer = self.server.snapshots  # type: ignore[attr-defined]
        if urlsplit(self.path).path != SNAPSHOT_PATH:
            self._answer(404, "not found")
            return
        if not snapshots.authorized(self.headers.get("Authorization")):
            log.warning("snapshot refused to %s: no or wrong token", self.client_address[0])
            self._answer(401, "a valid bearer token is needed", {"WWW-Authenticate": "Bearer"})
            return
        db = snapshots.db
        if not db.exists():
            self._answer(503, "no warehouse published yet: the sync has not completed a run")
            return
        opened: list[duckdb.DuckDBPyConnection] = []
        try:
            with held(
                db,
                lambda: opened.append(duckdb.connect(str(db), read_only=True)),
                lambda: opened.pop().close(),
            ) as holder:
                try:
                    snapshot_id = _snapshot_id(opened[0])
                finally:
                    opened.pop().close()
                etag = f'"{snapshot_id}"'
                if self.headers.get("If-None-Match") == etag:  # the host has it: no digest, no body
                    self._answer(304, "", {"ETag": etag})
                    return
                self._send(snapshots.describe(holder[0], snapshot_id), holder[0])
        except (duckdb.Error, OSError) as exc:  # before anything was sent
            log.error("snapshot not served: %s", " ".join(str(exc).split())[:200])
            self.close_connection = True
            self._answer(503, "the published warehouse cannot be read now")

    do_HEAD = do_GET

    def _send(self, published: Published, fd: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(published.size))
        self.send_header("ETag", f'"{published.snapshot_id}"')
        self.send_header(DIGEST_HEADER, published.digest)
        self.end_headers()
        if self.command == "HEAD":
            return
        started = time.perf_counter()
        try:
            with os.fdopen(fd, "rb", closefd=False) as body:
                self.connection.sendfile(body, 0, published.size)
        except OSError as exc:  # the host went away, or stopped reading: it keeps its snapshot
            self.close_connection = True
            log.warning(
                "snapshot %s not sent to %s: %s",
                published.snapshot_id,
                self.client_address[0],
                exc.strerror or exc,
            )
            return
        log.info(
            "snapshot %s sent to %s: %s bytes in %.1f s",
            published.snapshot_id,
            self.client_address[0],
            f"{published.size:,}",
            time.perf_counter() - started,
        )

    def _answer(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = message.encode() if status != 304 else b""
        self.send_response(status)
        if status != 304:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    parser = OneLineParser(
        prog="python -m sync.snapshot_server",
        description="Serve the published warehouse to console hosts (python -m sync.snapshot_pull).",
    )
    parser.add_argument("--listen", type=host_port, default=("127.0.0.1", 8503), metavar="HOST:PORT")
    parser.add_argument("--db", type=file_path, help="warehouse file (default: BILLING_DB)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        token = snapshot_token(settings)
        db = args.db or settings.billing_db
        problem = None if args.db else file_path_problem(db)
        if problem:
            raise BadConfiguration(f"BILLING_DB: {problem}")
        server = SnapshotServer(db.resolve(), token, *args.listen)
    except (SettingsError, BadConfiguration) as exc:
        log.error("snapshot server not started: bad configuration: %s", exc)
        return BAD_INPUT
    except OSError as exc:
        host, port = args.listen
        log.error("snapshot server not started: cannot listen on %s:%d: %s", host, port, exc.strerror or exc)
        return BAD_INPUT
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        log.info("snapshot server stopped")
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
