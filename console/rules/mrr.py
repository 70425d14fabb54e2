"""Monthly recurring revenue, as docs/METRICS.md defines it, exactly.

A price's MRR is `unit_amount * quantity` normalised to a month: month ÷ interval_count,
year ÷ (12 × interval_count), week × 52 ÷ 12 ÷ interval_count, day × 365 ÷ 12 ÷
interval_count. Yearly and weekly prices give fractions of a minor unit, so sums stay
exact (`Fraction`) and only a figure that is shown or exported is rounded, once, to the
nearest minor unit with halves away from zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from fractions import Fraction

# A month's share of one interval, applied to unit_amount * quantity / interval_count.
MONTHLY_FACTOR: dict[str, Fraction] = {
    "month": Fraction(1),
    "year": Fraction(1, 12),
    "week": Fraction(52, 12),
    "day": Fraction(365, 12),
}


def monthly_amount(amount: int, interval: str, interval_count: int | None = 1) -> Fraction:
    """MRR of `amount` minor units billed every `interval_count` `interval`s, exactly."""
    # int(): numpy integers mixed with Fraction can fall back to float.
    return int(amount) * MONTHLY_FACTOR[interval] / int(interval_count or 1)


def round_half_away(value: Fraction) -> int:
    """Nearest integer, halves away from zero (Python's round() goes to even)."""
    magnitude = (abs(value) * 2 + 1) // 2
    return int(magnitude if value >= 0 else -magnitude)


def subscription_mrr(items: Iterable[tuple[int | None, int | None, str | None, int | None]]) -> int | None:
    """A subscription's MRR in minor units from its items' (unit_amount, quantity, interval, count).

    Items without a recurring price (or an amount) add nothing; None when no item is recurring.
    """
    total, recurring = Fraction(0), False
    for unit_amount, quantity, interval, interval_count in items:
        if unit_amount is None or interval not in MONTHLY_FACTOR:
            continue
        recurring = True
        total += monthly_amount(unit_amount * (1 if quantity is None else quantity), interval, interval_count)
    return round_half_away(total) if recurring else None


NEVER_PAID_STATUSES = ("incomplete", "incomplete_expired")


def why_no_mrr(
    at: datetime,
    status: str,
    start_date: datetime | None,
    trial_end: datetime | None,
    ended_at: datetime | None,
) -> str | None:
    """None when the subscription is paid-active at `at` (it counts toward MRR), else why not:
    'incomplete', 'ended', 'trial' or 'not started' (docs/METRICS.md, "Paid-active").

    Times are naive UTC, like the warehouse's.
    """
    if status in NEVER_PAID_STATUSES:
        return "incomplete"
    paid_start = trial_end if trial_end is not None else start_date
    if ended_at is not None and (ended_at <= at or (paid_start is not None and ended_at <= paid_start)):
        return "ended"
    if paid_start is None:
        return "not started"
    if at < paid_start:
        return "trial" if trial_end is not None else "not started"
    return None
