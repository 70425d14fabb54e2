"""Money as Stripe sends it (integer minor units + lower-case ISO code), formatted for people.

Stripe's zero-decimal currencies have no minor unit (¥1,200 is 1200), its
three-decimal ones have three digits (BHD 1.250 is 1250); everything else has two.
Amounts in different currencies are never added: callers group by currency.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# https://docs.stripe.com/currencies#zero-decimal and #three-decimal
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "krw": "₩", "inr": "₹", "cad": "CA$", "aud": "A$"}


def decimals(currency: str) -> int:
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_major(amount_minor: int | float | Decimal, currency: str) -> Decimal:
    """Minor units to the currency's main unit, exactly (1234 usd -> 12.34)."""
    return Decimal(str(amount_minor)).scaleb(-decimals(currency))


def format_money(amount_minor: int | float | Decimal | None, currency: str | None) -> str:
    """'$12.34', '¥1,200', '€-3.00', 'BHD 1.250'; '' when the amount or currency is unknown."""
    if amount_minor is None or currency is None or amount_minor != amount_minor:  # NaN
        return ""
    places = decimals(currency)
    value = to_major(amount_minor, currency).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    number = f"{abs(value):,.{places}f}"
    sign = "-" if value < 0 else ""
    symbol = SYMBOLS.get(currency.lower())
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{currency.upper()} {number}"


def plotly_hover_format(currency: str) -> str:
    """A d3 format for amounts already converted with `to_major`, e.g. ',.2f' or ',.0f'."""
    return f",.{decimals(currency)}f"


def input_step_and_format(currency: str) -> tuple[float, str]:
    """`step` and `format` for an amount input in the currency's main unit.

    For st.number_input: ¥ takes whole yen (1, "%.0f"), $ cents (0.01, "%.2f"), BHD fils
    (0.001, "%.3f"), so an amount is typed as people write it.
    """
    places = decimals(currency)
    return float(Decimal(1).scaleb(-places)), f"%.{places}f"
