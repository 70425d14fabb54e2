"""Command-line input of every command: `python -m sync` (and its snapshot server and puller),
`sandbox`, `bench`, `console.users`, `console.report`.

A bad option gets one line on stderr that names it and exit code 2, never a usage dump
or a traceback: schedulers and people read the last line. It lives beside the settings
because every command shares it, and the sync, the sandbox and the console import
nothing of each other.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, with errors in one line: `prog: argument --x: what is wrong`."""

    def error(self, message: str) -> NoReturn:
        self.exit(BAD_INPUT, f"{self.prog}: {' '.join(message.split())} (see --help)\n")


def number(
    minimum: float, maximum: float, *, integer: bool = False, above_minimum: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number in [minimum, maximum] (or (minimum, maximum])."""
    kind = "a whole number" if integer else "a number"
    low = f"above {_shown(minimum)}" if above_minimum else f"from {_shown(minimum)}"

    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        too_low = value <= minimum if above_minimum else value < minimum
        if not math.isfinite(value) or too_low or value > maximum:
            raise argparse.ArgumentTypeError(f"{text!r} must be {kind} {low} to {_shown(maximum)}")
        return value

    return parse


def _shown(bound: float) -> str:
    return f"{int(bound):,}" if float(bound).is_integer() else f"{bound:g}"


def directory(text: str) -> Path:
    """An argparse type: a directory, existing or to be made (not a file, not empty)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a directory")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a directory")
    return path


def host_port(text: str) -> tuple[str, int]:
    """An argparse type: `HOST:PORT` (`[::1]:8502` for IPv6) to listen on."""
    host, colon, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT like 127.0.0.1:8502 (port 1 to 65535)")
    return host, int(port)


def file_path(text: str) -> Path:
    """An argparse type: a file, existing or to be made (not a directory, not empty)."""
    problem = file_path_problem(Path(text)) if text.strip() else "is empty: give a file name"
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return Path(text)


def file_path_problem(path: Path) -> str | None:
    """Why `path` cannot be a file we write, or None."""
    if path.is_dir() or not path.name or path.name in (".", ".."):
        return f"{path} is a directory, not a file"
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        return f"{parent} is a file, not a directory"
    return None
