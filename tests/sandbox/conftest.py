"""Fixtures of the sandbox tests: a private server per test where the test changes its state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from sandbox.testing import SandboxHandle, running_sandbox


def client_for(handle: SandboxHandle, key: str | None = None, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(
        key or handle.api_key, base_addresses={"api": handle.base_url}, max_network_retries=retries
    )


@pytest.fixture
def client(sandbox: SandboxHandle) -> stripe.StripeClient:
    return client_for(sandbox)


@pytest.fixture
def own_sandbox(sandbox_account: Path) -> Iterator[SandboxHandle]:
    """A server of its own (on its own working copy), for tests that change or slow it."""
    with running_sandbox(sandbox_account) as handle:
        yield handle
