"""The sign-in cookie's signing key: refused when missing, the library's default, or weak."""

from __future__ import annotations

import math
from collections import Counter

from settings import SettingsError

# streamlit-authenticator's default cookie key: a token signed with it is forgeable by anyone.
LIBRARY_DEFAULT_KEY = "some_key"
MIN_KEY_BYTES = 32
MAKE_KEY_HINT = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'


def check_cookie_key(key: str | None) -> str:
    """The cookie key if it is fit to sign sessions; SettingsError otherwise."""
    if not key:
        raise SettingsError("COOKIE_KEY", "is not set", f"{MAKE_KEY_HINT}, then set COOKIE_KEY")
    if key == LIBRARY_DEFAULT_KEY:
        raise SettingsError("COOKIE_KEY", "is the library's published default", MAKE_KEY_HINT)
    if len(key.encode()) < MIN_KEY_BYTES or _entropy_bits(key) < MIN_KEY_BYTES * 4:
        raise SettingsError(
            "COOKIE_KEY",
            f"is too short or too regular (at least {MIN_KEY_BYTES} random bytes)",
            MAKE_KEY_HINT,
        )
    return key


def _entropy_bits(text: str) -> float:
    """Shannon estimate of a string's total entropy: catches 'aaaa...' keys of the right length."""
    counts = Counter(text)
    return -sum(n * math.log2(n / len(text)) for n in counts.values())
