"""How warehouse values are shown: untrusted text as plain visible text, times as UTC text.

Pages show untrusted text (customer names, emails, Stripe messages) only through
elements that do not interpret it (st.text, st.dataframe, st.code); `printable`
removes what even those would pass through and confuse a reader with: control and
bidirectional-override characters become visible escapes, so "Ann\\nDROP" or a
right-to-left trick shows for what it is.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

import pandas as pd

# Cc: control characters (newline, escape, ...); Cf: format characters (bidi overrides, zero-width).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf"})
UTC_FORMAT = "%Y-%m-%d %H:%M UTC"
# What an empty table cell shows: a dash reads as "nothing here", a blank as "not loaded".
EMPTY = "—"


def printable(value: object) -> str:
    """`value` as one line of visible text; '' for None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    text = str(value)
    if not any(unicodedata.category(ch) in _HIDDEN_CATEGORIES for ch in text):
        return text
    return "".join(
        ch if unicodedata.category(ch) not in _HIDDEN_CATEGORIES else f"\\u{ord(ch):04x}" for ch in text
    )


def utc_text(value: datetime | pd.Timestamp | None) -> str:
    """A warehouse time (naive UTC) as '2026-11-25 17:00 UTC'; '' when unknown."""
    if value is None or pd.isna(value):
        return ""
    return pd.Timestamp(value).strftime(UTC_FORMAT)


def or_empty(text: str | None) -> str:
    """`text`, or the empty-cell dash when there is none."""
    return text or EMPTY


def plan_name(product: str | None, nickname: str | None, fallback: str) -> str:
    """'Business monthly' from product 'Business' and nickname 'Business monthly' (no doubled words)."""
    parts = [p for p in (product, nickname) if p]
    if len(parts) == 2 and parts[1].lower().startswith(parts[0].lower()):
        parts = [parts[1]]
    return " ".join(parts) or fallback
