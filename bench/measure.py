"""How the benchmarks measure: repeated timings with warm-up, percentiles, and a child
process's wall time and peak memory."""

from __future__ import annotations

import math
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Timing:
    runs: int
    p50_ms: float
    p95_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, float]:
        return {"runs": self.runs, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "max_ms": self.max_ms}


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least `share` of samples at or below it."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def time_calls(
    call: Callable[[int], object], runs: int, warmup: int = 2, before: Callable[[], object] = lambda: None
) -> Timing:
    """Time `call(i)` for i in range(runs) after `warmup` untimed calls; `before()`, untimed,
    precedes each timed call (e.g. dropping a file from the page cache).

    The index lets a benchmark vary its input between runs (another customer each
    time), so that no cache answers for the code under test.
    """
    for i in range(warmup):
        call(-1 - i)
    samples = []
    for i in range(runs):
        before()
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(
        runs, round(percentile(samples, 0.5), 2), round(percentile(samples, 0.95), 2), round(max(samples), 2)
    )


def high_water_rss(pid: int) -> int:
    """Peak resident memory of a live process so far (VmHWM, bytes); 0 once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class PeakMemory:
    """Polls a child's VmHWM until stopped.

    Not ru_maxrss from wait4(): Linux carries the parent's high-water mark into a forked
    child across exec, so a benchmark process holding gigabytes would be counted as the
    child's peak. VmHWM belongs to the memory of the program the child runs, and only grows.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, high_water_rss(self.pid))
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_bytes


@dataclass(frozen=True)
class ChildRun:
    returncode: int
    seconds: float
    peak_rss_bytes: int
    output: str


def run_child(
    command: list[str], *, env: dict[str, str], cwd: Path, log: Path, timeout: float | None = None
) -> ChildRun:
    """Run `command`, its output going to `log`; wall time and the child's own peak RSS."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        memory = PeakMemory(process.pid)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        finally:
            peak = memory.stop()
    seconds = time.monotonic() - started
    return ChildRun(process.returncode, seconds, peak, log.read_text(errors="replace"))


def drop_from_page_cache(path: Path) -> None:
    """Evict the file's pages from the OS page cache (this file only: other work is not slowed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
