"""The sync recovers from what operators meet and records what really happened.

A damaged warehouse file, a disk that fills up during a run, kills at the worst
instant (just after the publishing rename, or twice in a row), a warehouse reached
through a symlink. Everything is real: DuckDB files, the sync over HTTP against the
sandbox, SIGKILL, a small tmpfs for the full disk.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

import sync
from sandbox.testing import SandboxHandle, running_sandbox
from sync.publish import Busy, exclusive
from tests.conftest import ROOT
from tests.sync.account_check import assert_matches_account, query
from tests.sync.test_command import command_env, sync_command
from tests.sync.test_sync_sandbox import RATE, served


def truncate(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2)


def overwrite_file_header(db: Path) -> None:
    with db.open("r+b") as out:
        out.write(b"\0" * 4096)


def overwrite_database_headers(db: Path) -> None:
    # DuckDB's two rotating database headers follow the 4 KiB file header.
    with db.open("r+b") as out:
        out.seek(4096)
        out.write(b"\xff" * 8192)


def empty(db: Path) -> None:
    os.truncate(db, 0)


def replace_with_text(db: Path) -> None:
    db.write_text("restored from the wrong backup: not a DuckDB file\n")


DAMAGE: list[Callable[[Path], None]] = [
    truncate,
    overwrite_file_header,
    overwrite_database_headers,
    empty,
    replace_with_text,
]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda damage: damage.__name__)
def test_damaged_warehouse_is_refused_then_rebuilt_by_full(
    sandbox: SandboxHandle, tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    db = tmp_path / "billing.duckdb"
    sync.run(db, api_key=sandbox.api_key, api_base=sandbox.base_url, rate=RATE)
    damage(db)
    damaged = db.read_bytes()
    env = command_env(tmp_path, STRIPE_SYNC_API_KEY=sandbox.api_key, STRIPE_API_BASE=sandbox.base_url)

    incremental = sync_command("--db", str(db), env=env)
    assert incremental.returncode == 1, incremental.stderr
    last = incremental.stderr.strip().splitlines()[-1]
    assert f"the warehouse {db} is damaged" in last and "run `python -m sync --full`" in last
    assert "Traceback" not in incremental.stderr
    assert db.read_bytes() == damaged  # an incremental run never touches it

    full = sync_command("--db", str(db), "--full", env=env)
    assert full.returncode == 0, full.stderr
    (aside,) = tmp_path.glob("billing.duckdb.damaged-*")
    assert re.fullmatch(r"billing\.duckdb\.damaged-\d{8}T\d{6}Z", aside.name)
    assert aside.read_bytes() == damaged  # kept for inspection, and named in the log
    assert str(aside) in full.stderr
    assert_matches_account(db, served(sandbox))
    # The refused run is not lost with the old history: the full run records it.
    runs = query(db, "SELECT mode, status, coalesce(error, '') LIKE '%damaged%' FROM sync_runs ORDER BY id")
    assert runs == [("incremental", "failed", True), ("full", "succeeded", False)]
    assert not db.with_name(db.name + ".running").exists()


# --- a disk that fills up ----------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs: a disk that really fills up (needs root, as in the test container)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up ({mounted.stderr.strip()}): run the tests as root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill_until_free(disk: Path, free: int) -> Path:
    """Take the disk's free space down to about `free` bytes with a filler file."""
    stats = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as out:
        out.truncate(0)
        remaining = stats.f_bavail * stats.f_frsize - free
        chunk = b"\0" * (1 << 20)
        while remaining > 0:
            remaining -= out.write(chunk[: min(len(chunk), remaining)])
    return filler


@pytest.mark.parametrize(
    "room",
    ["for the copy, not the changes", "not even for the copy"],
)
def test_full_disk_during_an_incremental_run(own_account: Path, small_disk: Path, room: str) -> None:
    db = small_disk / "billing.duckdb"
    with running_sandbox(own_account) as handle:
        sync.run(db, api_key=handle.api_key, api_base=handle.base_url, rate=RATE)
        before = db.read_bytes()
        handle.apply_changes(40, seed=1)
        # The copy of the warehouse needs its size again; the changes some MB more.
        copy_fits = room == "for the copy, not the changes"
        filler = fill_until_free(small_disk, len(before) + (1 << 20) if copy_fits else len(before) // 2)

        with pytest.raises((OSError, duckdb.Error), match="No space left on device"):
            sync.run(db, api_key=handle.api_key, api_base=handle.base_url, rate=RATE)
        assert db.read_bytes()[:4096] == before[:4096]
        leftovers = {p.name for p in small_disk.iterdir()} - {
            "billing.duckdb",
            "billing.duckdb.lock",
            "filler",
        }
        if copy_fits:  # room to record the failure at once: a publication, which keeps the
            # file it replaced as the next run's standby
            assert leftovers == {"billing.duckdb.standby"}
            assert query(db, "SELECT mode, status FROM sync_runs ORDER BY id")[-1] == (
                "incremental",
                "failed",
            )
            error = query(db, "SELECT error FROM sync_runs ORDER BY id DESC LIMIT 1")[0][0]
        else:  # no room even for the record: it waits in the marker for the next run
            assert leftovers == {"billing.duckdb.running"}

        filler.unlink()
        sync.run(db, api_key=handle.api_key, api_base=handle.base_url, rate=RATE)
        assert_matches_account(db, served(handle))
    runs = query(db, "SELECT mode, status, error FROM sync_runs ORDER BY id")
    assert [(mode, status) for mode, status, _ in runs] == [
        ("full", "succeeded"),
        ("incremental", "failed"),
        ("incremental", "succeeded"),
    ]
    if copy_fits:
        assert runs[1][2] == error
    assert "No space left on device" in runs[1][2]
    assert {p.name for p in small_disk.iterdir()} == {
        "billing.duckdb",
        "billing.duckdb.lock",
        "billing.duckdb.standby",
    }


# --- kills at the worst instant -----------------------------------------------------

# A sync run in a child process that SIGKILLs itself at one exact point of publication,
# seen through Python's audit events: the rename over the live file ("os.rename") or
# the directory fsync just after it ("open" of the warehouse's folder).
KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    db, key, base, when = sys.argv[1:5]

    def kill_at(event, args):
        before = event == "os.rename" and str(args[1]) == db
        after = event == "open" and str(args[0]) == os.path.dirname(db)
        if (when == "before-rename" and before) or (when == "after-rename" and after):
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(kill_at)
    import sync
    sync.run(__import__("pathlib").Path(db), api_key=key, api_base=base, rate=500)
    """
)


def killed_run(handle: SandboxHandle, db: Path, when: str, script: str = KILLED_RUN) -> None:
    done = subprocess.run(
        [sys.executable, "-c", script, str(db), handle.api_key, handle.base_url, when],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr


def test_a_run_killed_just_after_publishing_is_recorded_as_succeeded(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    db = tmp_path / "billing.duckdb"
    sync.run(db, api_key=sandbox.api_key, api_base=sandbox.base_url, rate=RATE)
    killed_run(sandbox, db, "after-rename")
    assert db.with_name(db.name + ".running").exists()  # it never got to clear its marker
    sync.run(db, api_key=sandbox.api_key, api_base=sandbox.base_url, rate=RATE)
    assert query(db, "SELECT mode, status FROM sync_runs ORDER BY id") == [
        ("full", "succeeded"),
        ("incremental", "succeeded"),  # the killed run: it was published, and says so
        ("incremental", "succeeded"),
    ]


def test_two_kills_in_a_row_are_both_recorded(sandbox: SandboxHandle, tmp_path: Path) -> None:
    db = tmp_path / "billing.duckdb"
    killed_run(sandbox, db, "before-rename")
    killed_run(sandbox, db, "before-rename")
    assert not db.exists()
    sync.run(db, api_key=sandbox.api_key, api_base=sandbox.base_url, rate=RATE)
    runs = query(db, "SELECT mode, status, error FROM sync_runs ORDER BY id")
    assert [(mode, status) for mode, status, _ in runs] == [
        ("full", "interrupted"),
        ("full", "interrupted"),
        ("full", "succeeded"),
    ]
    assert "nothing of it was published" in runs[0][2]
    started = query(db, "SELECT started_at FROM sync_runs ORDER BY id")
    assert started == sorted(started) and len(set(started)) == 3


# --- a warehouse reached through a symlink -----------------------------------------


def test_symlinked_warehouse_is_locked_and_published_as_its_target(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    real = tmp_path / "volume" / "billing.duckdb"
    link = tmp_path / "billing.duckdb"
    real.parent.mkdir()
    sync.run(real, api_key=sandbox.api_key, api_base=sandbox.base_url, rate=RATE)
    link.symlink_to(real)

    # A run through the real path holds the lock: one through the link is refused.
    with exclusive(real), pytest.raises(Busy, match="already running"):
        sync.run(link, api_key=sandbox.api_key, api_base=sandbox.base_url, rate=RATE)

    sync.run(link, api_key=sandbox.api_key, api_base=sandbox.base_url, rate=RATE)
    assert link.is_symlink() and link.resolve() == real
    assert query(real, "SELECT count(*) FROM sync_runs") == [(2,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["billing.duckdb", "volume"]
    shutil.rmtree(real.parent)
