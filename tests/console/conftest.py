"""Console page fixtures: the hand-made warehouse in the test's BILLING_DB, pages opened as a role."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.console.warehouse_fixture import build_warehouse


@pytest.fixture
def warehouse(console_env: dict[str, str]) -> Path:
    return build_warehouse(Path(console_env["BILLING_DB"]))


@pytest.fixture
def open_page(app_as: Callable[..., object]) -> Callable[..., object]:
    """Run the console as `role`, then switch to `page` with query parameters, like a link would."""

    def open_(role: str, page: str, **query: str) -> object:
        at = app_as(role).run()
        at.query_params.update(query)
        at.switch_page(f"../pages/{page}.py")
        return at.run()

    return open_
