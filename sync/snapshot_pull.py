"""`python -m sync.snapshot_pull`: a console host fetches the sync host's published warehouse.

One pull asks the snapshot server (sync/snapshot_server.py) for the snapshot with the id of
the file this host already has (`If-None-Match`): an unchanged snapshot costs one small
request. A new one is written to `<db>.pull-<random>` (0600) in the warehouse's own folder,
its size and SHA-256 checked against the server's headers, fsynced, opened read-only by
DuckDB to check it is the announced warehouse, then renamed over the host's warehouse path:
the same atomic swap as a publication, so the console picks it up at its next query and a
pull killed at any instant leaves the previous snapshot in place (its temporary file is
removed by the next pull). `<db>.pull.lock` keeps one pull at a time per warehouse.

Exit codes: 0 pulled or unchanged, 1 the pull failed (server unreachable or erring, a
download cut short or not matching its digest, not a warehouse), 2 bad configuration (an
option or setting, or a token the server refuses). With `--every`, failures are logged
and retried at the next interval; only bad options and settings at start exit.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import http.client
import logging
import os
import re
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from settings import SettingsError, load_settings
from settings.command_line import BAD_INPUT, OneLineParser, file_path, file_path_problem
from sync.__main__ import parse_interval
from sync.job import BadConfiguration
from sync.publish import is_damage, read_snapshot_id
from sync.snapshot_server import DIGEST_HEADER, SNAPSHOT_PATH, snapshot_token

log = logging.getLogger("sync.snapshot_pull")

EXIT_OK, EXIT_FAILED = 0, 1
TIMEOUT_SECONDS = 60  # per read: the server digests a new snapshot before answering
_CHUNK = 1 << 20
_DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/=]+):")


class PullFailed(Exception):
    """This pull did not replace the warehouse; the next one may succeed."""


class TokenRefused(Exception):
    """The server refused SNAPSHOT_TOKEN: a setting to fix."""


@dataclass(frozen=True)
class Source:
    """The snapshot server's URL, checked: http(s), a host, no credentials in it."""

    scheme: str
    host: str
    port: int | None
    path: str

    @property
    def url(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{self.host}{port}{self.path}"


def source(text: str) -> Source:
    """`--from URL`: BadConfiguration naming the problem otherwise."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise BadConfiguration(
            f"--from {text!r} is not a URL like https://sync.internal:8443/snapshot"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadConfiguration(f"--from {text!r} is not an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise BadConfiguration("--from must not hold credentials: the token goes in SNAPSHOT_TOKEN")
    return Source(parts.scheme, parts.hostname, port, parts.path or SNAPSHOT_PATH)


def _sibling(db: Path, suffix: str) -> Path:
    return db.with_name(db.name + suffix)


def local_snapshot_id(db: Path) -> str | None:
    """The snapshot id of the warehouse this host has, or None (none, damaged, or no id)."""
    if not db.exists():
        return None
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            return read_snapshot_id(con)
    except duckdb.Error as exc:
        log.warning(
            "the local warehouse cannot be read, fetching it whole: %s", " ".join(str(exc).split())[:200]
        )
        return None


def pull(origin: Source, db: Path, token: str) -> str | None:
    """Bring `db` to the server's current snapshot: its id if a new one was renamed into
    place, None when the host already had it. Raises PullFailed or TokenRefused."""
    db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = os.open(_sibling(db, ".pull.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PullFailed(f"another pull is already running for {db}") from None
        for leftover in db.parent.glob(f"{db.name}.pull-*"):  # of a killed pull
            leftover.unlink(missing_ok=True)
        return _fetch(origin, db, token)
    finally:
        os.close(lock)


def _fetch(origin: Source, db: Path, token: str) -> str | None:
    have = local_snapshot_id(db)
    kind = http.client.HTTPSConnection if origin.scheme == "https" else http.client.HTTPConnection
    connection = kind(origin.host, origin.port, timeout=TIMEOUT_SECONDS)
    headers = {"Authorization": f"Bearer {token}"}
    if have:
        headers["If-None-Match"] = f'"{have}"'
    try:
        try:
            connection.request("GET", origin.path, headers=headers)
            answer = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise PullFailed(f"cannot reach {origin.url}: {_reason(exc)}") from None
        if answer.status == 304:
            return None
        if answer.status == 401:
            raise TokenRefused(
                f"{origin.url} refused SNAPSHOT_TOKEN (401): give it the snapshot server's token"
            )
        if answer.status != 200:
            text = answer.read(200).decode("utf-8", "replace")
            raise PullFailed(f"{origin.url} answered {answer.status}: {' '.join(text.split())}")
        snapshot_id, size, digest = _announced(answer)
        partial = _sibling(db, f".pull-{secrets.token_hex(8)}")
        try:
            _download(answer, partial, size, digest)
            _check_warehouse(partial, snapshot_id)
            os.replace(partial, db)
        finally:
            partial.unlink(missing_ok=True)
        _sync_folder(db.parent)
        return snapshot_id
    finally:
        connection.close()


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or " ".join(str(exc).split())[:200] or type(exc).__name__


def _announced(answer: http.client.HTTPResponse) -> tuple[str, int, bytes]:
    etag = (answer.getheader("ETag") or "").strip('"')
    length = answer.getheader("Content-Length") or ""
    found = _DIGEST.fullmatch(answer.getheader(DIGEST_HEADER) or "")
    if not etag or not length.isdigit() or found is None:
        raise PullFailed(
            "the server's answer lacks the snapshot id, size or digest: is --from the snapshot server?"
        )
    return etag, int(length), base64.b64decode(found[1])


def _download(answer: http.client.HTTPResponse, partial: Path, size: int, digest: bytes) -> None:
    """Write the body to `partial` (created 0600), check its size and digest, fsync it."""
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    received = hashlib.sha256()
    written = 0
    try:
        while written < size:
            try:
                chunk = answer.read(min(_CHUNK, size - written))
            except (OSError, http.client.HTTPException) as exc:
                raise PullFailed(
                    f"download cut short after {written:,} of {size:,} bytes: {_reason(exc)}"
                ) from None
            if not chunk:
                raise PullFailed(f"download cut short after {written:,} of {size:,} bytes")
            received.update(chunk)
            os.write(fd, chunk)
            written += len(chunk)
        if received.digest() != digest:
            raise PullFailed(f"the download's SHA-256 does not match the server's ({size:,} bytes): not used")
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_warehouse(partial: Path, announced: str) -> None:
    try:
        with duckdb.connect(str(partial), read_only=True) as con:
            found = read_snapshot_id(con)
    except duckdb.Error as exc:
        what = "not a readable DuckDB warehouse" if is_damage(exc) else " ".join(str(exc).split())[:200]
        raise PullFailed(f"the downloaded file is {what}: not used") from None
    if found != announced:
        raise PullFailed("the downloaded warehouse is not the snapshot the server announced: not used")


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _once(origin: Source, db: Path, token: str) -> int:
    started = time.perf_counter()
    try:
        pulled = pull(origin, db, token)
    except (TokenRefused, PullFailed) as exc:
        log.error("pull failed: %s", exc)
        return BAD_INPUT if isinstance(exc, TokenRefused) else EXIT_FAILED
    except OSError as exc:  # the host's own disk: full, not writable
        log.error("pull failed: %s: %s", getattr(exc, "filename", None) or db, exc.strerror or exc)
        return EXIT_FAILED
    if pulled:
        log.info("snapshot %s pulled into %s in %.1f s", pulled, db, time.perf_counter() - started)
    else:
        log.info("snapshot unchanged")
    return EXIT_OK


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a scheduler's stop ends a pull like Ctrl-C: its file removed


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    parser = OneLineParser(
        prog="python -m sync.snapshot_pull",
        description="Fetch the sync host's published warehouse when it changed (sync.snapshot_server).",
    )
    parser.add_argument(
        "--from", dest="origin", required=True, metavar="URL", help="the snapshot server's URL"
    )
    parser.add_argument("--to", type=file_path, help="this host's warehouse file (default: BILLING_DB)")
    parser.add_argument("--every", help="pull again every interval (30s, 5m, ...)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        origin = source(args.origin)
        token = snapshot_token(settings)
        every = parse_interval(args.every) if args.every is not None else None
        db = args.to or settings.billing_db
        problem = None if args.to else file_path_problem(db)
        if problem:
            raise BadConfiguration(f"BILLING_DB: {problem}")
        db = db.resolve()
    except (SettingsError, BadConfiguration) as exc:
        log.error("pull not started: bad configuration: %s", exc)
        return BAD_INPUT
    signal.signal(signal.SIGTERM, _stop)
    try:
        while True:
            started = time.monotonic()
            code = _once(origin, db, token)
            if every is None:
                return code
            time.sleep(max(0.0, started + every - time.monotonic()))
    except KeyboardInterrupt:
        log.info("pull stopped")
        return EXIT_FAILED if every is None else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
