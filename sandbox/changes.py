"""Changes to a running account at the current real time: new customers, renewals, failed
and recovered payments, cancellations, profile and card updates, deletions. Each change
updates the objects and records its events, as Stripe would, so an incremental sync has
something to pick up.

A change set is seeded (same account, same seed: same changes) and spread over the last
SPREAD_SECONDS rather than stamped in one second, and it always holds the edges a sync
must get right: a customer deletion, a dunning retry, and a late delivery (an older
`customer.updated` listed after a newer one of the same customer)."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from sandbox.billing import (
    DAY,
    FIRST_DECLINES,
    RETRY_DAYS,
    EventSink,
    Ledger,
    new_payment_method,
    weighted,
)
from sandbox.store import AccountWriter, get_meta, set_meta

KINDS = [
    ("new_customer", 0.3),
    ("renewal", 0.2),
    ("dunning_retry", 0.1),
    ("cancellation", 0.12),
    ("profile_update", 0.15),
    ("card_update", 0.08),
    ("deletion", 0.05),
    ("method_attach", 0.03),
    ("method_update", 0.03),
    ("method_auto_update", 0.03),
    ("method_detach", 0.03),
    ("default_change", 0.03),
]
# Attached cards of customers not deleted (detached methods have no customer).
ATTACHED_CARDS = (
    "SELECT p.id FROM payment_methods p JOIN customers c ON c.id = p.customer "
    "WHERE c.deleted = 0 AND p.type = 'card' ORDER BY p.created, p.id"
)
# Attached methods that are not their customer's default (nor, then, a live subscription's).
SPARE_METHODS = (
    "SELECT p.id FROM payment_methods p JOIN customers c ON c.id = p.customer WHERE c.deleted = 0 "
    "AND p.id IS NOT json_extract(CAST(c.body AS TEXT), '$.invoice_settings.default_payment_method') "
    "ORDER BY p.created, p.id"
)
LIVE = ("active", "trialing", "past_due", "incomplete", "unpaid")
# Within the sync's one-minute cursor overlap, and never before the account's newest
# event: an object's events keep their order in time.
SPREAD_SECONDS = 50
# Last in every set large enough, the deletion last of all: nothing after it may pick
# the customer it deletes (or the subscriptions it cancels) from the not yet saved account.
EDGES = ("dunning_retry", "late_delivery", "deletion")


class Session:
    """Loads customers' live objects into ledgers, and writes back what changed."""

    def __init__(self, db: sqlite3.Connection, rng: random.Random) -> None:
        self.db = db
        self.rng = rng
        self.meta = get_meta(db)
        self.writer = AccountWriter(db)
        self.sink = EventSink(self.write_event, self.meta["event_sequence"])
        self.ledgers: dict[str, Ledger] = {}
        self.events_written = 0  # not the sequence: a late delivery skips a number
        (newest,) = db.execute("SELECT max(created) FROM events").fetchone()
        self.newest = newest or 0  # created of the newest event recorded so far

    def write_event(self, eid: str, t: int, kind: str, body: bytes) -> None:
        self.writer.add("events", {"id": eid, "created": t, "type": kind}, body)
        self.events_written += 1
        self.newest = max(self.newest, t)

    def just_before(self, t: int) -> int:
        """The time of a change made just before the one at `t`: a second earlier, but never
        before an event already recorded. Stripe stamps a change when it happens, so an
        object's later state never has an older `created` than its earlier one (within one
        second the ids keep the order); the sync applies each object's newest event."""
        return max(t - 1, self.newest)

    def body(self, resource: str, oid: str) -> dict[str, Any]:
        (raw,) = self.db.execute(f"SELECT body FROM {resource} WHERE id = ?", (oid,)).fetchone()  # noqa: S608
        return json.loads(raw)

    def pick(self, sql: str, *params: Any) -> str | None:
        """A random id from a query's rows, chosen with the session's random stream."""
        (count,) = self.db.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()  # noqa: S608
        if not count:
            return None
        (oid,) = self.db.execute(f"{sql} LIMIT 1 OFFSET ?", (*params, self.rng.randrange(count))).fetchone()
        return oid

    def ledger(self, customer_id: str) -> Ledger:
        if customer_id in self.ledgers:
            return self.ledgers[customer_id]
        cust = self.body("customers", customer_id)
        methods = {
            pm["id"]: pm
            for (raw,) in self.db.execute(
                "SELECT body FROM payment_methods WHERE customer = ?", (customer_id,)
            )
            for pm in [json.loads(raw)]
        }
        card = methods.get(cust["invoice_settings"]["default_payment_method"])
        if card is None:  # a customer without a default gives one now
            card = new_payment_method(self.rng, int(time.time()), cust)
        ledger = Ledger(self.rng, self.sink, (0, 2**62), cust, card, payment_methods=methods)
        for (raw,) in self.db.execute(
            f"SELECT body FROM subscriptions WHERE customer = ? AND status IN {LIVE}",  # noqa: S608 - constant
            (customer_id,),
        ):
            sub = json.loads(raw)
            ledger.subscriptions[sub["id"]] = sub
        for (raw,) in self.db.execute(
            "SELECT body FROM invoices WHERE customer = ? AND status IN ('draft', 'open')", (customer_id,)
        ):
            inv = json.loads(raw)
            ledger.invoices[inv["id"]] = inv
            row = self.db.execute(
                "SELECT body FROM invoice_payments WHERE invoice = ?", (inv["id"],)
            ).fetchone()
            if row is not None:
                ip = json.loads(row[0])
                ledger.invoice_payments[inv["id"]] = ip
                pi_id = ip["payment"]["payment_intent"]
                ledger.payment_intents[pi_id] = self.body("payment_intents", pi_id)
        self.ledgers[customer_id] = ledger
        return ledger

    def save(self) -> None:
        for ledger in self.ledgers.values():
            for resource, obj in ledger.all_objects():
                self.writer.add(resource, obj)
        self.writer.flush()
        counts = dict(self.meta.get("counts", {}))
        for resource, (total,) in (
            (r, self.db.execute(f"SELECT count(*) FROM {r}").fetchone())  # noqa: S608
            for r in self.writer.counts
        ):
            counts[resource] = total
        set_meta(self.db, {**self.meta, "event_sequence": self.sink.sequence, "counts": counts})
        self.db.commit()

    # the changes

    def new_customer(self, t: int) -> bool:
        rng = self.rng
        (index,) = self.db.execute("SELECT count(*) FROM customers").fetchone()
        currency = weighted(rng, [("usd", 0.55), ("eur", 0.2), ("gbp", 0.15), ("jpy", 0.1)])
        cust, card = Ledger.new_customer(rng, t, currency, index)
        ledger = Ledger(rng, self.sink, (0, 2**62), cust, card)
        ledger.sign_up(t)
        self.ledgers[cust["id"]] = ledger
        price_id = self.pick("SELECT id FROM prices WHERE active = 1 AND currency = ? ORDER BY id", currency)
        if price_id is None:
            return True
        price = self.body("prices", price_id)
        trial = rng.random() < 0.3
        sub = ledger.start_subscription(t, price, 1, 14 if trial else 0)
        if not trial:
            inv = ledger.invoices[sub["latest_invoice"]]
            ledger.attempt(inv, t, None if rng.random() < 0.92 else weighted(rng, FIRST_DECLINES))
        return True

    def renewal(self, t: int, fails: bool | None = None, sub_id: str | None = None) -> bool:
        """Renew `sub_id` (by default a random active subscription); `fails` None draws the outcome."""
        sub_id = sub_id or self.pick(
            "SELECT id FROM subscriptions WHERE status = 'active' ORDER BY created, id"
        )
        if sub_id is None:
            return False
        ledger = self.ledger(self.body("subscriptions", sub_id)["customer"])
        sub = ledger.subscriptions[sub_id]
        inv = ledger.renew(sub, t)
        ledger.finalize(inv, t)
        if not (self.rng.random() >= 0.85 if fails is None else fails):
            ledger.attempt(inv, t, None)
        else:
            ledger.attempt(inv, t, weighted(self.rng, FIRST_DECLINES), t + RETRY_DAYS[0] * DAY)
        return True

    def failed_renewal(self, t: int, sub_id: str | None = None) -> bool:
        """An invoice in dunning, for a retry to work on when the account has none open."""
        return self.renewal(self.just_before(t), fails=True, sub_id=sub_id)

    def dunning_retry(self, t: int) -> bool:
        in_id = self.pick("SELECT id FROM invoices WHERE status = 'open' ORDER BY created, id")
        if in_id is not None:
            ledger = self.ledger(self.body("invoices", in_id)["customer"])
        elif self.failed_renewal(t):
            ledger, in_id = next(
                (ledger, i) for ledger in self.ledgers.values() for i, inv in ledger.invoices.items()
                if inv["status"] == "open"
            )  # fmt: skip
        else:
            return False
        inv = ledger.invoices[in_id]
        if self.rng.random() < 0.4:
            ledger.attempt(inv, t, None)
        else:
            ledger.attempt(inv, t, "insufficient_funds", t + RETRY_DAYS[1] * DAY)
        return True

    def cancellation(self, t: int) -> bool:
        sub_id = self.pick(
            "SELECT id FROM subscriptions WHERE status IN ('active', 'trialing') ORDER BY created, id"
        )
        if sub_id is None:
            return False
        ledger = self.ledger(self.body("subscriptions", sub_id)["customer"])
        sub = ledger.subscriptions[sub_id]
        if sub["cancel_at_period_end"]:
            return False
        ledger.cancel(sub, t, "cancellation_requested", at_period_end=self.rng.random() < 0.5)
        return True

    def profile_update(self, t: int) -> bool:
        cid = self.pick("SELECT id FROM customers WHERE deleted = 0 ORDER BY created, id")
        if cid is None:
            return False
        self.ledger(cid).update_profile(t)
        return True

    def card_update(self, t: int) -> bool:
        cid = self.pick("SELECT id FROM customers WHERE deleted = 0 ORDER BY created, id")
        if cid is None:
            return False
        self.ledger(cid).update_card(t)
        return True

    def change_method(self, sql: str, change: Callable[[Ledger, dict[str, Any]], None]) -> bool:
        """Apply `change` to a method `sql` picks, unless none is left attached (in this session too)."""
        pm_id = self.pick(sql)
        if pm_id is None:
            return False
        ledger = self.ledger(self.body("payment_methods", pm_id)["customer"])
        pm = ledger.payment_methods[pm_id]
        if pm["customer"] is None:
            return False
        change(ledger, pm)
        return True

    def method_attach(self, t: int) -> bool:
        cid = self.pick("SELECT id FROM customers WHERE deleted = 0 ORDER BY created, id")
        if cid is None:
            return False
        ledger = self.ledger(cid)
        ledger.attach(new_payment_method(self.rng, t, ledger.customer, wallet_rate=0.5), t)
        return True

    def method_update(self, t: int, automatic: bool = False) -> bool:
        return self.change_method(ATTACHED_CARDS, lambda ledger, pm: ledger.auto_update(pm, t, automatic))

    def method_auto_update(self, t: int) -> bool:
        return self.method_update(t, automatic=True)

    def method_detach(self, t: int) -> bool:
        return self.change_method(SPARE_METHODS, lambda ledger, pm: ledger.detach(pm, t))

    def default_change(self, t: int) -> bool:
        return self.change_method(SPARE_METHODS, lambda ledger, pm: ledger.set_default(pm, t))

    def deletion(self, t: int) -> bool:
        live = f"SELECT customer FROM subscriptions WHERE status IN {LIVE}"  # noqa: S608 - constant
        cid = self.pick(
            f"SELECT id FROM customers WHERE deleted = 0 AND id NOT IN ({live}) ORDER BY created, id"  # noqa: S608
        )
        if cid is None:  # everyone subscribes: one cancels at once, then leaves
            cid = self.pick("SELECT id FROM customers WHERE deleted = 0 ORDER BY created, id")
            if cid is None:
                return False
            ledger = self.ledger(cid)
            for sub in list(ledger.subscriptions.values()):
                if sub["status"] in LIVE:
                    ledger.cancel(sub, self.just_before(t), "cancellation_requested", at_period_end=False)
        self.ledger(cid).delete_customer(t)
        # Saved at once: later changes of this set pick customers with `deleted = 0`.
        self.db.execute("UPDATE customers SET deleted = 1 WHERE id = ?", (cid,))
        return True

    def late_delivery(self, t: int) -> bool:
        """Two profile updates of one customer whose older event is listed after the newer one
        (a higher id, an older `created`), as Stripe may deliver them: the newer must win."""
        cid = self.pick("SELECT id FROM customers WHERE deleted = 0 ORDER BY created, id")
        if cid is None:
            return False
        ledger = self.ledger(cid)
        write = self.sink.write
        self.sink.write = lambda *event: None  # the older update's event is recorded below, late
        try:
            ledger.update_profile(t - 1)
        finally:
            self.sink.write = write
        older = json.loads(json.dumps(ledger.customer))
        ledger.update_profile(t)
        self.sink.record(self.rng, older, "customer.updated", t - 1)
        return True


def apply_changes(
    db: sqlite3.Connection, count: int, seed: int | None = None, now: int | None = None
) -> dict[str, Any]:
    """Apply `count` changes up to `now` (the current second unless given); answer how many
    of each kind and the events made.

    Without a seed, the account's event sequence seeds them: still reproducible."""
    meta = get_meta(db)
    rng = random.Random(meta["event_sequence"] if seed is None else seed)
    session = Session(db, rng)
    done: Counter[str] = Counter()
    now = int(time.time()) if now is None else now
    start = min(now, max(now - SPREAD_SECONDS, session.newest + 1))
    edges = list(EDGES[-count:]) if count else []
    plan = [weighted(rng, KINDS) for _ in range(count - len(edges))] + edges
    for index, kind in enumerate(plan):
        t = start + (now - start) * (index + 1) // count
        if not getattr(session, kind)(t):
            kind = "new_customer"
            session.new_customer(t)
        done[kind] += 1
    session.save()
    return {"changes": dict(sorted(done.items())), "events": session.events_written}


def pay_invoice(db: sqlite3.Connection, invoice_id: str) -> bool:
    """The customer pays an open invoice on its hosted page (with a working card)."""
    session = Session(db, random.Random())
    row = db.execute("SELECT body FROM invoices WHERE id = ?", (invoice_id,)).fetchone()
    if row is None or json.loads(row[0])["status"] != "open":
        return False
    ledger = session.ledger(json.loads(row[0])["customer"])
    t = int(time.time())
    ledger.update_card(t)
    ledger.attempt(ledger.invoices[invoice_id], t, None)
    session.save()
    return True


def change_customer(db: sqlite3.Connection, customer_id: str, action: str, value: str | None = None) -> bool:
    """One named change to one customer now, with its events, for a test that needs exactly it:
    "email" (to `value`), "cancel" (subscription `value`, at once, on request) or "delete"."""
    session = Session(db, random.Random())
    if db.execute("SELECT 1 FROM customers WHERE id = ? AND deleted = 0", (customer_id,)).fetchone() is None:
        return False
    ledger = session.ledger(customer_id)
    t = int(time.time())
    if action == "email":
        ledger.advance(t)
        ledger.customer["email"] = value
        ledger.emit(ledger.customer, "customer.updated", t)
    elif action == "cancel":
        sub = ledger.subscriptions.get(value or "")
        if sub is None:
            return False
        ledger.cancel(sub, t, "cancellation_requested", at_period_end=False)
    elif action == "delete":
        ledger.delete_customer(t)
        db.execute("UPDATE customers SET deleted = 1 WHERE id = ?", (customer_id,))
    else:
        raise ValueError(f"unknown customer change {action!r}")
    session.save()
    return True
