"""In dunning: the rule lives in warehouse_views/dunning.py, shared with the sync.

The sync builds the invoices in dunning when it publishes a snapshot and may import
nothing of the console, so the rule moved to the shared top-level package; the
console's readers keep importing it from here.
"""

from warehouse_views.dunning import (
    COLLECTION_METHOD,
    FAILED,
    LOST_STATUSES,
    OPEN,
    RECOVERED_STATUSES,
    invoices_entered_dunning,
    invoices_in_dunning,
    is_in_dunning,
)

__all__ = [
    "COLLECTION_METHOD",
    "FAILED",
    "LOST_STATUSES",
    "OPEN",
    "RECOVERED_STATUSES",
    "invoices_entered_dunning",
    "invoices_in_dunning",
    "is_in_dunning",
]
