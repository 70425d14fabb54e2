"""How the benchmarks measure: repeated timings with warm-up, percentiles, and a child
process's wall time and peak memory."""

from __future__ import annotations

import math
import os
import subprocess
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


def time_calls(call: Callable[[int], object], runs: int, warmup: int = 2) -> Timing:
    """Time `call(i)` for i in range(runs) after `warmup` untimed calls.

    The index lets a benchmark vary its input between runs (another customer each
    time), so that no cache answers for the code under test.
    """
    for i in range(warmup):
        call(-1 - i)
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(
        runs, round(percentile(samples, 0.5), 2), round(percentile(samples, 0.95), 2), round(max(samples), 2)
    )


@dataclass(frozen=True)
class ChildRun:
    returncode: int
    seconds: float
    peak_rss_bytes: int
    output: str


def run_child(
    command: list[str], *, env: dict[str, str], cwd: Path, log: Path, timeout: float | None = None
) -> ChildRun:
    """Run `command`, its output going to `log`; wall time and the child's own peak RSS.

    The peak comes from wait4() on that very process (ru_maxrss), so it counts the
    child and not the benchmark, nor other children such as the sandbox server.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = None if timeout is None else started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(process.returncode, seconds, usage.ru_maxrss * 1024, log.read_text(errors="replace"))
