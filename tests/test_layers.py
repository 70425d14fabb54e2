"""The layer rules of docs/ARCHITECTURE.md, checked from outside the code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from settings import ROOT

STREAMLIT_LAYER = [
    ROOT / "console" / "ui",
    ROOT / "console" / "app.py",
    ROOT / "console" / "server.py",
    ROOT / "pages",
]


def _python_files(*places: Path) -> list[Path]:
    return [p for place in places for p in ([place] if place.is_file() else sorted(place.rglob("*.py")))]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "command",
    [
        ["console.users"],
        ["console.report"],
        ["console.ops_migrate"],
        ["sync"],
        ["sync.snapshot_server"],
        ["sync.snapshot_pull"],
    ],
)
def test_command_help_loads_no_streamlit(command: list[str]) -> None:
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['x', '--help']\n"
        "try:\n"
        f"    runpy.run_module({command[0]!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED' if 'streamlit' in sys.modules else 'CLEAN', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "usage" in done.stdout.lower()
    assert done.stderr.strip().splitlines()[-1] == "CLEAN"


def test_the_sync_imports_nothing_of_the_console() -> None:
    offending = {
        str(path.relative_to(ROOT)): sorted(n for n in _imports(path) if n.split(".")[0] == "console")
        for path in _python_files(ROOT / "sync")
    }
    assert {path: names for path, names in offending.items() if names} == {}


def test_only_the_streamlit_layer_imports_streamlit() -> None:
    layer = set(_python_files(*STREAMLIT_LAYER))
    outside = [p for p in _python_files(ROOT / "console", ROOT / "sync", ROOT / "settings") if p not in layer]
    importing = [
        str(path.relative_to(ROOT))
        for path in outside
        if any(name.split(".")[0] in {"streamlit", "streamlit_authenticator"} for name in _imports(path))
    ]
    assert importing == []


_STORE_MODULES = {"sqlite3", "duckdb", "psycopg", "console.ops.store", "console.warehouse.snapshots"}
_SQL_WORDS = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "CREATE ")


@pytest.mark.parametrize("page", _python_files(ROOT / "pages"), ids=lambda p: p.name)
def test_pages_hold_no_sql_and_open_no_store(page: Path) -> None:
    assert not (_imports(page) & _STORE_MODULES)
    strings = [
        node.value
        for node in ast.walk(ast.parse(page.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert [s for s in strings if s.upper().lstrip().startswith(_SQL_WORDS)] == []
    assert ".connect(" not in page.read_text()
