"""How a reader holds a published warehouse file, so that the sync never writes into it.

The sync writes into a file a publication replaced (its standby, sync/publish.py) only
when it can take an exclusive flock on it: a shared flock is how a reader says it still
reads that file. Readers are the console's connections (console/warehouse/snapshots.py)
and the snapshot server that ships the file to other hosts (sync/snapshot_server.py).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def held(path: Path, attach: Callable[[], object], detach: Callable[[], object]) -> Iterator[list[int]]:
    """Attach the live file (`attach`) under a shared flock on that very file; yields the
    flock's descriptor, closed on leaving unless the caller took it over (-1 then).

    DuckDB's own POSIX lock is not enough: a process drops it on every open file of an
    inode when it closes any one (e.g. a short read-only connection). A publication
    between the flock and `attach` opening the path would attach another file than the
    one held: then the path no longer names the held file, and we try again."""
    while True:
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while a run catches up a replaced file
            attach()
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                holder = [fd]
                yield holder
                fd = holder[0]
                return
            detach()
        finally:
            if fd >= 0:
                os.close(fd)
