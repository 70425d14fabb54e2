"""Server settings: the effective Streamlit config keeps the protections on (issue 9).

The config is read the way a deployment gets it: Streamlit's own config loader, run from
the repository root in a fresh process, so that `.streamlit/config.toml` is what it loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, submit_sign_in
from tests.security.conftest import WAIT_MS, users_cli

OPTIONS = [
    "server.enableXsrfProtection", "server.enableCORS", "server.corsAllowedOrigins",
    "client.showErrorDetails", "client.toolbarMode", "global.developmentMode",
    "server.maxUploadSize", "server.enableStaticServing", "server.address", "server.headless",
    "server.runOnSave", "server.fileWatcherType", "browser.gatherUsageStats",
]  # fmt: skip
READ_CONFIG = """
import json, sys
from streamlit import config
config.get_config_options(force_reparse=True)
print(json.dumps({
    name: [config.get_option(name), config.get_where_defined(name)] for name in sys.argv[1:]
}))
"""


@pytest.fixture(scope="module")
def effective() -> dict:
    """{option: (value, where it was set)}, as Streamlit loads it in a fresh process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    shown = subprocess.run(
        [sys.executable, "-c", READ_CONFIG, *OPTIONS],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(shown.stdout)


def option(effective: dict, name: str):
    return effective[name][0]


def test_config_file_is_the_source(effective):
    config_file = str(ROOT / ".streamlit" / "config.toml")
    for name in ("server.enableXsrfProtection", "server.enableCORS", "client.showErrorDetails"):
        assert effective[name][1] == config_file, f"{name} is not pinned by {config_file}"


def test_xsrf_and_cors_protections_are_on(effective):
    assert option(effective, "server.enableXsrfProtection") is True
    assert option(effective, "server.enableCORS") is True
    assert option(effective, "server.corsAllowedOrigins") == []


def test_users_never_see_error_details(effective):
    assert option(effective, "client.showErrorDetails") == "none"
    assert option(effective, "client.toolbarMode") in {"minimal", "viewer"}
    assert option(effective, "global.developmentMode") is False


def test_uploads_and_static_files_are_minimal(effective):
    assert option(effective, "server.maxUploadSize") <= 1
    assert option(effective, "server.enableStaticServing") is False


def test_server_stays_local_and_quiet(effective):
    assert option(effective, "server.address") == "127.0.0.1"
    assert option(effective, "server.headless") is True
    assert option(effective, "server.runOnSave") is False
    assert option(effective, "server.fileWatcherType") == "none"
    assert option(effective, "browser.gatherUsageStats") is False


@pytest.fixture
def unusable_ops_store(console_env: dict, tmp_path: Path) -> Path:
    """An OPS_DB that is a folder: the first sign-in raises inside the console."""
    folder = tmp_path / "ops-is-a-folder"
    folder.mkdir()
    console_env["OPS_DB"] = str(folder)
    return folder


@pytest.mark.browser
def test_a_failing_page_shows_no_traceback_in_the_browser(unusable_ops_store, console_server, browser):
    page = browser.new_page()
    submit_sign_in(page, console_server, "sam", "whatever-password")
    page.get_by_text("ops store is unavailable", exact=False).first.wait_for(timeout=WAIT_MS)
    text = page.inner_text("body")
    for leak in ("Traceback", "OperationalError", "sqlite3", ".py", str(unusable_ops_store), str(ROOT)):
        assert leak not in text, f"the browser shows {leak!r}"
    assert users_cli("list").returncode == 0  # the failure was the store, not the console at large
