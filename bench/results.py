"""Result files: a markdown table for people and JSON for tools, each naming the machine,
the date and the exact command that produced it."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    name: str  # file name: results/<name>.md and .json
    title: str
    columns: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)  # everything measured, for the JSON file

    def table(self) -> str:
        lines = [
            "| " + " | ".join(self.columns) + " |",
            "| " + " | ".join("---" for _ in self.columns) + " |",
        ]
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in self.rows]
        return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def command_line() -> str:
    return "python -m bench " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "python -m bench"


def write(result: Result, out: Path = RESULTS, command: str | None = None) -> tuple[Path, Path]:
    """Print the table and write <out>/<name>.md and .json."""
    out.mkdir(parents=True, exist_ok=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    host = machine()
    command = command or command_line()
    markdown = [
        f"# {result.title}",
        "",
        result.table(),
        "",
        *[f"- {note}" for note in result.notes],
        "",
        f"Measured {when} on {host['cpu']}, {host['cores']} cores, {host['memory_gb']} GB RAM "
        f"({host['os']}, Python {host['python']}, DuckDB {host['duckdb']}; load average at start "
        f"{', '.join(str(x) for x in host['load_average_at_start'])}).",
        "",
        f"Command: `{command}`",
        "",
    ]
    md_path = out / f"{result.name}.md"
    json_path = out / f"{result.name}.json"
    md_path.write_text("\n".join(markdown))
    payload = {
        "title": result.title,
        "measured_at": when,
        "command": command,
        "machine": host,
        "columns": result.columns,
        "rows": result.rows,
        "notes": result.notes,
        "figures": result.figures,
    }
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\n## {result.title}\n\n{result.table()}\n")
    for note in result.notes:
        print(f"- {note}")
    print(f"\n(written to {md_path} and {json_path.name})", flush=True)
    return md_path, json_path
