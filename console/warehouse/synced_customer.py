"""One customer as the last sync left them: what a live look at Stripe is compared with.

Only the facts an agent acts on: the contact, the delinquent flag, the open invoices (and
which of them are in dunning, by docs/METRICS.md's rule) and the subscriptions' states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import duckdb

from console.rules.dunning import invoices_in_dunning


class SyncedInvoice(NamedTuple):
    """An invoice open at the sync."""

    id: str
    number: str | None
    in_dunning: bool


class SyncedSubscription(NamedTuple):
    id: str
    status: str
    cancel_at_period_end: bool


@dataclass(frozen=True)
class SyncedCustomer:
    id: str
    email: str | None
    delinquent: bool
    deleted: bool
    open_invoices: tuple[SyncedInvoice, ...]
    subscriptions: tuple[SyncedSubscription, ...]


def synced_customer(con: duckdb.DuckDBPyConnection, customer_id: str) -> SyncedCustomer | None:
    row = con.execute(
        "SELECT id, email, delinquent, deleted FROM customers WHERE id = ?", [customer_id]
    ).fetchone()
    if row is None:
        return None
    in_dunning = {
        invoice_id
        for (invoice_id,) in con.execute(
            f"SELECT id FROM ({invoices_in_dunning('customer_id = ?')})",  # noqa: S608 -- the rule's constant SQL
            [customer_id],
        ).fetchall()
    }
    open_invoices = con.execute(
        "SELECT id, number FROM invoices WHERE customer_id = ? AND status = 'open' ORDER BY created DESC, id",
        [customer_id],
    ).fetchall()
    subscriptions = con.execute(
        "SELECT id, status, coalesce(cancel_at_period_end, FALSE) FROM subscriptions"
        " WHERE customer_id = ? ORDER BY created DESC, id",
        [customer_id],
    ).fetchall()
    return SyncedCustomer(
        id=row[0],
        email=row[1],
        delinquent=bool(row[2]),
        deleted=bool(row[3]),
        open_invoices=tuple(SyncedInvoice(i, n, i in in_dunning) for i, n in open_invoices),
        subscriptions=tuple(SyncedSubscription(s, status, bool(end)) for s, status, end in subscriptions),
    )
