"""Progress of a run: a bar per resource on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import time

from tqdm import tqdm

log = logging.getLogger("sync")


class Progress:
    """Plain log lines: one per resource every few seconds, for cron and systemd journals."""

    interval = 5.0

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._started = time.monotonic()
        self._logged: dict[str, float] = {}

    def advance(self, name: str, count: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + count
        now = time.monotonic()
        if now - self._logged.get(name, self._started) >= self.interval:
            self._logged[name] = now
            rate = self.counts[name] / max(now - self._started, 1e-9)
            log.info("%s: %d objects (%.0f/s)", name, self.counts[name], rate)

    def close(self) -> None:
        """Nothing to tear down for log lines."""


class BarProgress(Progress):
    """tqdm bars (objects, objects/s), one line per resource."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: dict[str, tqdm] = {}

    def advance(self, name: str, count: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + count
        if name not in self.bars:
            self.bars[name] = tqdm(desc=f"{name:<18}", unit=" obj", position=len(self.bars), leave=True)
        self.bars[name].update(count)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
