"""Generate a deterministic synthetic SaaS account: catalog, customers and their billing
history over `months` months up to `now`, with the events of the last 30 days.

Each customer is simulated on its own random stream (seeded from the seed and the
customer's index) and written as soon as it is done, so memory stays bounded and the
same seed and `now` give the same bytes.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox import shapes
from sandbox.billing import (
    DAY,
    FIRST_DECLINES,
    RETRY_DAYS,
    RETRY_SUCCESS,
    EventSink,
    Ledger,
    add_months,
    new_payment_method,
    weighted,
)
from sandbox.store import ACCOUNT_FILE, AccountWriter, create_indexes, create_schema, set_meta

EVENT_WINDOW = 30 * DAY
CURRENCIES = [("usd", 0.55), ("eur", 0.2), ("gbp", 0.15), ("jpy", 0.1)]
INTERVALS = [(("month", 1), 0.7), (("year", 1), 0.2), (("month", 3), 0.1)]
# tier key, product name, monthly USD cents, per-seat
TIERS = [
    ("starter", "Starter", 1200, False),
    ("pro", "Pro", 4900, False),
    ("business", "Business", 14900, False),
    ("team", "Team", 1500, True),
]
ENTERPRISE = ("enterprise", "Enterprise", 49900, False)
CHURN = {1: 0.03, 3: 0.07, 12: 0.12}
DUNNING_EVERY = 30
RECENT_EVERY = 20  # voluntary cancellations per period, by months per period

# Beyond these sizes a generation takes hours and tens of GB: the command refuses them.
MAX_CUSTOMERS = 1_000_000
MAX_MONTHS = 120


def local_amount(usd_cents: int, currency: str) -> int:
    """A price list in each currency, in that currency's minor units (JPY has none)."""
    if currency == "eur":
        return usd_cents - 100
    if currency == "gbp":
        return round(usd_cents * 0.8 / 100) * 100
    if currency == "jpy":
        return round(usd_cents * 1.5 / 100) * 100
    return usd_cents


def interval_amount(monthly: int, interval: str, count: int, currency: str) -> int:
    if interval == "year":
        return monthly * 10
    if count == 3:
        return round(monthly * 2.85 / 100) * 100
    return monthly


@dataclass
class Catalog:
    products: list[dict[str, Any]]
    prices: list[dict[str, Any]]
    # (tier, currency, interval, count) -> price that new subscriptions use
    current: dict[tuple[str, str, str, int], dict[str, Any]]
    enterprise_launch: int


def build_catalog(
    rng: random.Random, start: int, now: int, sink: EventSink, window: tuple[int, int]
) -> Catalog:
    products, prices, current = [], [], {}
    launch = now - 20 * DAY

    def emit(obj: dict[str, Any], event_type: str, t: int) -> None:
        if window[0] <= t <= window[1]:
            sink.record(rng, obj, event_type, t)

    for key, name, monthly_usd, per_seat in [*TIERS, ENTERPRISE]:
        created = launch if key == "enterprise" else start - 30 * DAY
        prod = shapes.product(shapes.random_id(rng, "prod_"), created, name, f"{name} plan", None)
        if per_seat:
            prod["unit_label"] = "seat"
        products.append(prod)
        emit(prod, "product.created", created)
        intervals = (
            [("month", 1), ("year", 1)] if key == "enterprise" else [("month", 1), ("year", 1), ("month", 3)]
        )
        for currency, _ in CURRENCIES:
            for interval, count in intervals:
                amount = interval_amount(local_amount(monthly_usd, currency), interval, count, currency)
                label = {("month", 1): "monthly", ("year", 1): "yearly", ("month", 3): "quarterly"}[
                    interval, count
                ]
                pr = shapes.price(
                    shapes.random_id(rng, "price_1", 23),
                    created,
                    prod["id"],
                    currency,
                    amount,
                    interval,
                    count,
                    f"{name} {label} ({currency.upper()})",
                    f"{key}_{label}_{currency}",
                )
                prices.append(pr)
                current[key, currency, interval, count] = pr
                emit(pr, "price.created", created)
        prod["default_price"] = current[key, "usd", "month", 1]["id"]
    # A pilot price made and archived within the window, used by nobody.
    enterprise = products[-1]
    pilot = shapes.price(
        shapes.random_id(rng, "price_1", 23),
        launch,
        enterprise["id"],
        "usd",
        139900,
        "month",
        3,
        "Enterprise pilot quarterly (USD)",
        "enterprise_pilot_quarterly_usd",
    )
    prices.append(pilot)
    emit(pilot, "price.created", launch)
    pilot["active"] = False
    emit(pilot, "price.updated", now - 8 * DAY)
    enterprise["description"] = "Enterprise plan: SSO, audit log, priority support"
    enterprise["updated"] = now - 3 * DAY
    emit(enterprise, "product.updated", now - 3 * DAY)
    return Catalog(products, prices, current, launch)


class CustomerHistory:
    """Plays one customer's life from sign-up to `now`."""

    def __init__(
        self, catalog: Catalog, sink: EventSink, now: int, start: int, seed: int, index: int
    ) -> None:
        self.rng = rng = random.Random(f"{seed}/{index}")
        self.catalog = catalog
        self.now = now
        created = start + int((now - start) * rng.random() ** 0.6)
        if index % RECENT_EVERY == 7:
            # A steady trickle of sign-ups inside the event window, even in a small account.
            created = now - int(rng.random() * (EVENT_WINDOW - DAY)) - DAY
        # Every 30th customer is, at `now`, a few days into dunning on a monthly plan, so even
        # a small account has invoices being retried.
        self.in_dunning_at_now = index % DUNNING_EVERY == 1
        if self.in_dunning_at_now:
            months_back = min(rng.randint(2, 8), max(2, (now - start) // (31 * DAY)))
            created = add_months(now - rng.randint(2, 10) * DAY, -months_back)
        self.currency = weighted(rng, CURRENCIES)
        cust, card = Ledger.new_customer(rng, created, self.currency, index)
        self.ledger = Ledger(rng, sink, (now - EVENT_WINDOW, now), cust, card)
        self.ledger.sign_up(created)
        if rng.random() < 0.05:
            # A spare card (often in a wallet), attached later and never made the default.
            spare_at = created + rng.randint(1, 400) * DAY
            if spare_at <= now:
                self.ledger.attach(new_payment_method(rng, spare_at, cust, wallet_rate=0.5), spare_at)
        self.created = created
        self.ledger.profile_edits = sorted(
            created + int(rng.random() * (now - created)) for _ in range(rng.choice([0, 0, 0, 0, 1, 1, 2]))
        )

    def play(self) -> Ledger:
        rng, now = self.rng, self.now
        subscribes = rng.random() < 0.9 or self.in_dunning_at_now
        t = self.created + rng.randint(30, 3600) if subscribes else None
        ended_last = self.created
        while t is not None and t <= now:
            ended = self.play_subscription(t)
            if ended is None:
                break
            ended_last = ended
            # Some come back after a while.
            t = ended + rng.randint(10, 150) * DAY if rng.random() < 0.1 else None
        if t is None and rng.random() < 0.2:
            deleted_at = ended_last + rng.randint(1, 90) * DAY
            if deleted_at <= now:
                self.ledger.delete_customer(deleted_at)
        self.ledger.advance(now)
        return self.ledger

    def pick_price(self, t: int) -> tuple[dict[str, Any], int]:
        rng = self.rng
        interval, count = ("month", 1) if self.in_dunning_at_now else weighted(rng, INTERVALS)
        if t >= self.catalog.enterprise_launch and interval == "month" and count == 1 and rng.random() < 0.1:
            return self.catalog.current["enterprise", self.currency, "month", 1], 1
        key = weighted(rng, [("starter", 0.4), ("pro", 0.3), ("business", 0.1), ("team", 0.2)])
        quantity = rng.randint(2, 25) if key == "team" else 1
        return self.catalog.current[key, self.currency, interval, count], quantity

    def play_subscription(self, t: int) -> int | None:
        """Run one subscription from `t`; answer when it ended, or None if it lives at `now`."""
        rng, ledger, now = self.rng, self.ledger, self.now
        price, quantity = self.pick_price(t)
        trial = rng.random() < 0.35 and not self.in_dunning_at_now
        sub = ledger.start_subscription(t, price, quantity, 14 if trial else 0)
        first = ledger.invoices[sub["latest_invoice"]]
        if not trial:
            settled = self.collect_first(sub, first, t)
            if settled is None:
                return None if sub["status"] == "incomplete" else sub["ended_at"]
        else:
            settled = t
            if rng.random() < 0.15:
                # Cancels during the trial.
                when = t + rng.randint(1, 13) * DAY
                if when > now:
                    return None
                ledger.cancel(sub, when, "cancellation_requested", at_period_end=rng.random() < 0.5)
                if sub["status"] == "canceled":
                    return when
        while True:
            item = ledger.item(sub)
            period_end = item["current_period_end"]
            if not sub["cancel_at_period_end"]:
                ended = self.midperiod(sub, settled, period_end)
                if ended is not None:
                    return ended
            if period_end > now:
                return None
            if sub["cancel_at_period_end"]:
                ledger.end_at_period_end(sub, period_end)
                return period_end
            was_trial = sub["status"] == "trialing"
            inv = ledger.renew(sub, period_end)
            finalize_at = period_end + 3600
            if finalize_at > now:
                return None
            ledger.finalize(inv, finalize_at)
            settled = self.dun(sub, inv, finalize_at, 0.35 if was_trial else 0.07)
            if settled is None:
                return None if sub["status"] != "canceled" else sub["ended_at"]

    def midperiod(self, sub: dict[str, Any], settled: int, period_end: int) -> int | None:
        """Voluntary cancellation or plan change during a period; answer the end time if it ended."""
        rng, ledger, now = self.rng, self.ledger, self.now
        price = ledger.item(sub)["price"]
        months = price["recurring"]["interval_count"] * (
            12 if price["recurring"]["interval"] == "year" else 1
        )
        if period_end <= settled or self.in_dunning_at_now:
            return None
        when = settled + int(rng.random() * (period_end - settled))
        if rng.random() < CHURN[months]:
            if when > now:
                return None
            ledger.cancel(sub, when, "cancellation_requested", at_period_end=rng.random() < 0.55)
            return when if sub["status"] == "canceled" else None
        if rng.random() < 0.04 and sub["status"] == "active" and when <= now:
            recurring = price["recurring"]
            tiers = [k for k, *_ in TIERS if k != "team"]
            options = [
                self.catalog.current[k, self.currency, recurring["interval"], recurring["interval_count"]]
                for k in tiers
            ]
            options = [p for p in options if p["id"] != price["id"]]
            ledger.change_price(sub, when, rng.choice(options))
        return None

    def collect_first(self, sub: dict[str, Any], inv: dict[str, Any], t: int) -> int | None:
        """The first payment of a subscription without a trial: `incomplete` until it succeeds,
        `incomplete_expired` (invoice voided) if it has not after 23 hours."""
        rng, ledger, now = self.rng, self.ledger, self.now
        expired = ledger.expired_card_decline(t)
        if expired is None and (rng.random() >= 0.05 or self.in_dunning_at_now):
            ledger.attempt(inv, t, None)
            return t
        ledger.attempt(inv, t, expired or weighted(rng, FIRST_DECLINES))
        if rng.random() < 0.5:
            fixed = t + rng.randint(600, 80000)
            if fixed > now:
                return None
            ledger.update_card(fixed)
            ledger.attempt(inv, fixed, None)
            return fixed
        expires = t + 23 * 3600
        if expires > now:
            return None
        ledger.close_unpaid(inv, expires, void=True)
        sub.update(status="incomplete_expired", ended_at=expires)
        ledger.emit(sub, "customer.subscription.updated", expires)
        return None

    def dun(self, sub: dict[str, Any], inv: dict[str, Any], t: int, fail_rate: float) -> int | None:
        """Collect a renewal invoice finalized at `t`, retrying as Smart Retries does.
        Answer when it settled (paid), or None if it is still in dunning at `now` or the
        subscription was canceled for non-payment."""
        rng, ledger, now = self.rng, self.ledger, self.now
        if inv["amount_due"] == 0:
            return t
        forced = self.in_dunning_at_now and t >= now - 13 * DAY
        if self.in_dunning_at_now and not forced:
            fail_rate = 0.0
        expired = None if forced else ledger.expired_card_decline(t)
        if expired is None and rng.random() >= fail_rate and not forced:
            ledger.attempt(inv, t, None)
            return t
        decline = expired or ("insufficient_funds" if forced else weighted(rng, FIRST_DECLINES))
        ledger.attempt(inv, t, decline, t + RETRY_DAYS[0] * DAY)
        # An expired card makes customers act more often than a bank's refusal does.
        update_rate = 0.6 if decline == "expired_card" else 0.3
        card_update = (
            t + int(rng.uniform(0.5, 13) * DAY) if rng.random() < update_rate and not forced else None
        )
        for n, days in enumerate(RETRY_DAYS):
            retry_at = t + days * DAY
            following = t + RETRY_DAYS[n + 1] * DAY if n + 1 < len(RETRY_DAYS) else None
            if card_update is not None and card_update < retry_at:
                if card_update > now:
                    return None
                ledger.update_card(card_update)
                ok = rng.random() < 0.9
                ledger.attempt(inv, card_update, None if ok else "generic_decline", retry_at)
                if ok:
                    return card_update
                decline, card_update = "generic_decline", None
            if retry_at > now:
                return None
            ok = rng.random() < RETRY_SUCCESS[decline] and not forced
            ledger.attempt(inv, retry_at, None if ok else decline, following)
            if ok:
                return retry_at
        # All retries failed: the subscription is canceled and the invoice written off or voided.
        end = t + RETRY_DAYS[-1] * DAY
        ledger.close_unpaid(inv, end, void=rng.random() < 0.35)
        ledger.cancel(sub, end, "payment_failed", at_period_end=False)
        return None


def today_utc() -> int:
    return int(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def generate_account(
    out: Path, customers: int, months: int = 24, seed: int = 1, now: int | None = None
) -> None:
    """Write the account to `out/account.sqlite` (replacing one that is there)."""
    out = Path(out)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = today_utc() if now is None else int(now)
    start = add_months(now, -months)
    target = out / ACCOUNT_FILE
    partial = out / (ACCOUNT_FILE + ".partial")
    partial.unlink(missing_ok=True)
    # Made private before SQLite opens it (an empty file is an empty database to SQLite):
    # the account is synthetic, but is served as customers' billing data; the file keeps
    # the mode when renamed into place.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    db = sqlite3.connect(partial)
    # Pages large enough that an invoice's JSON sits in one page: lists read 100 rows fast.
    db.execute("PRAGMA page_size = 16384")
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    create_schema(db, with_indexes=False)
    writer = AccountWriter(db)
    sink = EventSink(
        lambda eid, t, kind, body: writer.add("events", {"id": eid, "created": t, "type": kind}, body), 0
    )
    window = (now - EVENT_WINDOW, now)
    catalog = build_catalog(random.Random(f"{seed}/catalog"), start, now, sink, window)
    for prod in catalog.products:
        writer.add("products", prod)
    for pr in catalog.prices:
        writer.add("prices", pr)
    for index in range(customers):
        ledger = CustomerHistory(catalog, sink, now, start, seed, index).play()
        for resource, obj in ledger.all_objects():
            writer.add(resource, obj)
    writer.flush()
    create_indexes(db)
    set_meta(
        db,
        {
            "now": now,
            "seed": seed,
            "customers": customers,
            "months": months,
            "event_sequence": sink.sequence,
            "portal_configuration": shapes.random_id(random.Random(f"{seed}/portal"), "bpc_1", 23),
            "account": "acct_" + shapes.random_id(random.Random(f"{seed}/account"), "", 16),
            "counts": writer.counts,
        },
    )
    db.commit()
    db.close()
    partial.replace(target)


def main_generate(out: Path, customers: int, months: int, seed: int, now: int | None) -> dict[str, Any]:
    started = time.monotonic()
    generate_account(out, customers, months, seed, now)
    return {"seconds": round(time.monotonic() - started, 1)}
