"""The dunning queue as a work queue: the state agents give an invoice in dunning, and which
filter shows it.

An item is one invoice in dunning (keyed by invoice id, so it survives syncs). Agents give
it an assignee, a status and a note; the ops store keeps it (console/ops/work_state.py).
It leaves the queue by itself when the invoice stops being in dunning (paid, voided,
marked uncollectible): the queue's history shows it with its outcome.

Filters:
- **Mine**: assigned to me, not done, not snoozed.
- **Unassigned**: no assignee, not done, not snoozed.
- **Snoozed**: snoozed until a day after today. A snooze ends by itself on its day:
  the item is back in the other filters.
- **All**: everything but snoozed items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

STATUSES = ("new", "contacted", "waiting_on_customer", "snoozed", "done")
STATUS_TEXT = {
    "new": "new",
    "contacted": "contacted",
    "waiting_on_customer": "waiting on customer",
    "snoozed": "snoozed",
    "done": "done",
}
FILTERS = ("mine", "unassigned", "snoozed", "all")
FILTER_TEXT = {"mine": "Mine", "unassigned": "Unassigned", "snoozed": "Snoozed", "all": "All"}


@dataclass(frozen=True)
class WorkState:
    """An invoice's work state. `version` 0: never saved (the state every item starts in)."""

    invoice_id: str
    customer_id: str
    assignee: str | None = None
    status: str = "new"
    snoozed_until: date | None = None
    note: str = ""
    version: int = 0
    updated_by: str | None = None
    updated_at: datetime | None = None  # aware UTC

    def is_snoozed(self, today: date) -> bool:
        return self.status == "snoozed" and self.snoozed_until is not None and self.snoozed_until > today

    def text(self, today: date) -> str:
        """'contacted · sam', 'snoozed until 2026-12-03 · sam', 'new'."""
        if self.status == "snoozed":
            status = f"snoozed until {self.snoozed_until}" if self.is_snoozed(today) else "snooze ended"
        else:
            status = STATUS_TEXT.get(self.status, self.status)
        return f"{status} · {self.assignee}" if self.assignee else status


def shown_in(filter_name: str, state: WorkState, me: str, today: date) -> bool:
    """Whether the queue's filter `filter_name` (one of FILTERS) shows an item in `state`."""
    if filter_name == "snoozed":
        return state.is_snoozed(today)
    if state.is_snoozed(today):
        return False
    if filter_name == "all":
        return True
    if state.status == "done":
        return False
    if filter_name == "mine":
        return state.assignee == me
    if filter_name == "unassigned":
        return not state.assignee
    raise ValueError(f"unknown work-queue filter {filter_name!r}")
