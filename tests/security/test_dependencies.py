"""Dependencies: exact pins, none older than its known security fixes (issue 9).

The minimums are the first versions fixing published advisories (CVE / GHSA ids
beside each). This is a floor, not an audit: on a machine with internet access run
`pip-audit -r requirements.txt` (see README, Security) and raise a floor here
when an advisory lands.
"""

from __future__ import annotations

import importlib.metadata
import re

import pytest
from packaging.version import Version

from tests.conftest import ROOT

PINNED_MINIMUMS = {
    "streamlit": "1.54.0",  # the floor set in issue 9 (path traversal, XSS and header advisories before it)
    "jinja2": "3.1.6",  # CVE-2025-27516 sandbox breakout through |attr
    "tqdm": "4.66.3",  # CVE-2024-34062 eval of CLI arguments
    "pyarrow": "14.0.1",  # CVE-2023-47248 arbitrary code execution reading IPC/Parquet
    "duckdb": "1.1.0",  # CVE-2024-41672 file read through sniff_csv
    "aiosmtpd": "1.4.6",  # CVE-2024-27305 SMTP smuggling, CVE-2024-34083 STARTTLS injection
}
# Not pinned by us (they come with the pinned packages): checked in the installed environment.
INSTALLED_MINIMUMS = {
    "pyjwt": "2.10.1",  # CVE-2024-53861 issuer check bypass (signs the sign-in cookie)
    "requests": "2.32.4",  # CVE-2024-47081 .netrc credential leak
    "urllib3": "2.5.0",  # CVE-2025-50181 redirects not disabled
    "pyyaml": "5.4",  # CVE-2020-14343 full_load code execution
    "starlette": "0.47.2",  # CVE-2025-54121 multipart DoS
    "python-multipart": "0.0.18",  # CVE-2024-53981 boundary DoS
    "h11": "0.16.0",  # CVE-2025-43859 request smuggling
    "pillow": "11.3.0",  # CVE-2025-48379 DDS write overflow
    "protobuf": "5.29.5",  # CVE-2025-4565 recursion DoS
    "cryptography": "44.0.1",  # CVE-2024-12797 (bundled OpenSSL)
    "idna": "3.7",  # CVE-2024-3651 quadratic decode
    "certifi": "2024.7.4",  # GLOBALTRUST root removed
}
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([0-9][^\s;#]*)\s*(#.*)?$")


def pins(filename: str) -> dict[str, str]:
    found = {}
    for raw in (ROOT / filename).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("-r "):
            continue
        match = PIN.match(line)
        assert match, f"{filename}: {line!r} is not an exact pin (name==version)"
        found[match.group(1).lower().split("[")[0]] = match.group(2)
    return found


@pytest.mark.parametrize("filename", ["requirements.txt", "requirements-dev.txt"])
def test_every_requirement_is_an_exact_pin(filename):
    assert pins(filename)


def test_pins_meet_known_security_minimums():
    pinned = {**pins("requirements.txt"), **pins("requirements-dev.txt")}
    for name in ("streamlit", "stripe", "streamlit-authenticator", "duckdb", "pandas", "plotly"):
        assert name in pinned, f"{name} is not pinned in requirements.txt"
    too_old = {
        name: f"{pinned[name]} < {floor}"
        for name, floor in PINNED_MINIMUMS.items()
        if name in pinned and Version(pinned[name]) < Version(floor)
    }
    assert not too_old, f"pins older than their security fixes: {too_old}"


def test_installed_dependencies_meet_known_security_minimums():
    too_old = {}
    for name, floor in INSTALLED_MINIMUMS.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not part of this install
        if Version(installed) < Version(floor):
            too_old[name] = f"{installed} < {floor}"
    assert not too_old, f"installed versions older than their security fixes: {too_old}"
