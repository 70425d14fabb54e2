"""Fixtures of the sync tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def own_account(sandbox_account: Path, tmp_path: Path) -> Path:
    """A private copy of the generated account, for tests that change it or slow it down."""
    copy = tmp_path / "account"
    shutil.copytree(sandbox_account, copy)
    return copy
