"""What changed in Stripe since the last sync, for one customer: one comparison for the
customer page's live view and for the re-check before a portal link.

Also the process-wide cache of live looks: the page's automatic look asks Stripe at most
once per customer per minute per console process, however many agents open the page.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from console.links.live_customer import ENDED_SUBSCRIPTIONS, LiveCustomer, LiveUnavailable
from console.warehouse.synced_customer import SyncedCustomer

# What became of an invoice that was open at the sync, in words, by its status now.
_CLOSED = {"paid": "paid", "void": "voided", "uncollectible": "marked uncollectible"}


@dataclass(frozen=True)
class Change:
    kind: str  # deleted | email | paid | voided | closed | failed | canceled | cancels
    subject: str  # the customer, invoice or subscription id it is about
    what: str  # the thing, for the agent: "Invoice INV-0042"; may quote the customer's email
    mark: str  # what happened to it: "paid since the last sync"

    @property
    def text(self) -> str:
        return f"{self.what} {self.mark}."


def _invoice_name(number: str | None, invoice_id: str) -> str:
    return f"Invoice {number}" if number else f"Invoice {invoice_id}"


def changes_since_sync(synced: SyncedCustomer, live: LiveCustomer) -> tuple[Change, ...]:
    """The differences an agent must know before acting on the synced view, most serious first."""
    if live.deleted and not synced.deleted:
        if live.missing:
            return (Change("deleted", live.id, f"Stripe has no customer {live.id}",
                           "(deleted, or the console's key is for another account)"),)  # fmt: skip
        return (Change("deleted", live.id, "This customer", "was deleted in Stripe since the last sync"),)
    if live.deleted:
        return ()
    found: list[Change] = []
    if (live.email or "") != (synced.email or ""):
        was = f" (was {synced.email})" if synced.email else ""
        found.append(
            Change("email", live.id, f"New email: {live.email or 'none'}{was}", "since the last sync")
        )
    still_open = {i.id for i in live.open_invoices}
    recent = {i.id: i for i in live.recent_invoices}
    for invoice in synced.open_invoices:
        if invoice.id in still_open:
            continue
        status = recent[invoice.id].status if invoice.id in recent else None
        kind, mark = (
            ("paid" if status == "paid" else "voided", f"{_CLOSED[status]} since the last sync")
            if status in _CLOSED
            else ("closed", "no longer open in Stripe since the last sync")
        )
        found.append(Change(kind, invoice.id, _invoice_name(invoice.number, invoice.id), mark))
    synced_dunning = {i.id for i in synced.open_invoices if i.in_dunning}
    for invoice in live.open_invoices:
        if invoice.in_dunning and invoice.id not in synced_dunning:
            name = _invoice_name(invoice.number, invoice.id)
            found.append(Change("failed", invoice.id, name, "had a failed payment since the last sync"))
    for subscription in synced.subscriptions:
        now = live.subscription(subscription.id)
        if now is None or subscription.status in ENDED_SUBSCRIPTIONS:
            continue
        if now.ended:
            found.append(Change("canceled", now.id, f"Subscription {now.id}", "canceled since the last sync"))
        elif now.cancel_at_period_end and not subscription.cancel_at_period_end:
            found.append(Change("cancels", now.id, f"Subscription {now.id}",
                                "set to cancel at period end since the last sync"))  # fmt: skip
    return tuple(found)


class LiveLookCache:
    """The latest live look per customer in this process, reused for `interval` seconds.

    The page looks at Stripe by itself when the sync is old; without this, every agent opening
    the page (and every rerun of it) would ask again. A failure is kept too, so a Stripe that
    is down or rate limiting is not asked again by each page view. An agent's click on
    "Refresh from Stripe" always asks, and its answer replaces the kept one.
    """

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._kept: dict[str, tuple[float, LiveCustomer | LiveUnavailable]] = {}
        self._asking: set[str] = set()
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop every kept look (tests that serve another account under the same ids)."""
        with self._lock:
            self._kept.clear()

    def look(
        self, customer_id: str, fetch: Callable[[], LiveCustomer], *, force: bool = False
    ) -> LiveCustomer | LiveUnavailable | None:
        """The live look: a recent one, else a new one from `fetch` (always with `force`).

        None while another session of this process is asking Stripe about the same customer.
        """
        with self._lock:
            kept = self._kept.get(customer_id)
            if not force and kept and time.monotonic() - kept[0] < self.interval:
                return kept[1]
            if customer_id in self._asking and not force:
                return None
            self._asking.add(customer_id)
        try:
            outcome: LiveCustomer | LiveUnavailable = fetch()
        except LiveUnavailable as unavailable:
            outcome = unavailable
        finally:
            with self._lock:
                self._asking.discard(customer_id)
        with self._lock:
            self._kept[customer_id] = (time.monotonic(), outcome)
            if len(self._kept) > 10_000:  # a long-running console forgets looks that are too old to reuse
                now = time.monotonic()
                self._kept = {c: k for c, k in self._kept.items() if now - k[0] < self.interval}
        return outcome


LIVE_LOOKS = LiveLookCache()
