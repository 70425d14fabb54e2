"""What Stripe Billing does to a customer's objects over time: subscriptions, renewals,
invoices, payment attempts, dunning, cancellations. Used by the generator (to play two
years of history) and by the change endpoint (to apply changes to a running account).

Every change to an object goes through `Ledger.emit`, which records the event with the
object's state after the change, so the newest event of an object is its current state.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox import people, shapes
from sandbox.store import dump

DAY = 86400
# Smart-Retries-like schedule: days after the first failed attempt.
RETRY_DAYS = (3, 5, 7, 14)
# Chance that a retry succeeds, by the first attempt's decline code.
RETRY_SUCCESS = {
    "insufficient_funds": 0.3,
    "generic_decline": 0.2,
    "do_not_honor": 0.15,
    "card_velocity_exceeded": 0.35,
    "expired_card": 0.0,
}
# The bank's reasons for a first decline. `expired_card` is not drawn: it comes from a card
# that has actually expired (Ledger.expired_card_decline), so the two always agree.
FIRST_DECLINES = [
    ("insufficient_funds", 0.4),
    ("generic_decline", 0.25),
    ("do_not_honor", 0.12),
    ("card_velocity_exceeded", 0.05),
]
# Share of expired cards the card networks' updater has a new expiry for (Stripe then
# updates the method itself: payment_method.automatically_updated).
UPDATER_HIT_RATE = 0.6
FEEDBACK = ["too_expensive", "missing_features", "switched_service", "unused", "other", None, None]


def add_months(ts: int, months: int) -> int:
    moment = datetime.fromtimestamp(ts, UTC)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def weighted(rng: random.Random, choices: list[tuple[Any, float]]) -> Any:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


class EventSink:
    """Where events go: the generator's file writer, or the running server's store."""

    def __init__(self, write: Callable[[str, int, str, bytes], None], sequence: int) -> None:
        self.write = write
        self.sequence = sequence

    def record(
        self,
        rng: random.Random,
        obj: dict[str, Any],
        event_type: str,
        t: int,
        previous: dict[str, Any] | None = None,
    ) -> None:
        """`previous`: the changed attributes' former values (Stripe's previous_attributes)."""
        self.sequence += 1
        eid = shapes.event_id(rng, self.sequence)
        body = b"".join(
            [
                b'{"id":"',
                eid.encode(),
                b'","object":"event","api_version":"',
                shapes.API_VERSION.encode(),
                b'","created":',
                str(t).encode(),
                b',"data":{"object":',
                dump(obj),
                b',"previous_attributes":' + dump(previous) if previous else b"",
                b'},"livemode":false,"pending_webhooks":0,"request":{"id":null,"idempotency_key":null},"type":"',
                event_type.encode(),
                b'"}',
            ]
        )
        self.write(eid, t, event_type, body)


@dataclass
class Ledger:
    """One customer's objects and the rules that change them."""

    rng: random.Random
    sink: EventSink
    window: tuple[int, int]  # events are recorded for changes inside [start, end]
    customer: dict[str, Any]
    card: dict[str, Any]  # the default payment method: what invoices charge
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoice_payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # by invoice id
    charges: list[dict[str, Any]] = field(default_factory=list)
    # Times of future profile edits (email or name); applied in time order before any
    # other change to the customer, so its events stay in the order things happened.
    profile_edits: list[int] = field(default_factory=list)
    # Every payment method of the customer, attached or detached, by id.
    payment_methods: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.payment_methods.setdefault(self.card["id"], self.card)

    def advance(self, t: int) -> None:
        while self.profile_edits and self.profile_edits[0] <= t:
            self.update_profile(self.profile_edits.pop(0))

    def emit(
        self, obj: dict[str, Any], event_type: str, t: int, previous: dict[str, Any] | None = None
    ) -> None:
        if self.window[0] <= t <= self.window[1]:
            self.sink.record(self.rng, obj, event_type, t, previous)

    # customers

    @staticmethod
    def new_customer(rng: random.Random, t: int, currency: str, index: int) -> tuple[dict, dict]:
        name, email, locales, country = people.person(rng, currency, index)
        cust = shapes.customer(
            shapes.random_id(rng, "cus_"),
            t,
            name,
            email,
            currency,
            locales,
            shapes.random_id(rng, "", 8).upper(),
            country,
        )
        pm = new_payment_method(rng, t, cust)
        cust["invoice_settings"]["default_payment_method"] = pm["id"]
        return cust, pm

    def sign_up(self, t: int) -> None:
        """The events of a new customer: created, then the payment methods they gave."""
        self.emit(self.customer, "customer.created", t)
        for pm in self.payment_methods.values():
            self.emit(pm, "payment_method.attached", t)

    def update_profile(self, t: int) -> None:
        cust = self.customer
        # Awkward names stay exactly as they are, for the tests that look for them.
        if self.rng.random() < 0.6 or cust["name"] in people.TRICKY_NAMES:
            local, domain = cust["email"].split("@", 1)
            cust["email"] = f"{local.split('+')[0]}+{self.rng.choice(['work', 'billing', 'new'])}@{domain}"
        else:
            cust["name"] = (cust["name"] or "") + self.rng.choice([" Ltd", " (billing)", "-Moreau", " Jr."])
        self.emit(cust, "customer.updated", t)

    def update_card(self, t: int) -> None:
        """The customer gives a new card and makes it the default; most remove the old one."""
        self.advance(t)
        old = self.card
        self.set_default(self.attach(new_payment_method(self.rng, t, self.customer), t), t)
        if self.rng.random() < 0.6:
            self.detach(old, t)

    def attach(self, pm: dict[str, Any], t: int) -> dict[str, Any]:
        pm["customer"] = self.customer["id"]
        self.payment_methods[pm["id"]] = pm
        self.emit(pm, "payment_method.attached", t)
        return pm

    def set_default(self, pm: dict[str, Any], t: int) -> None:
        """`pm` becomes what invoices charge, for the customer and for the subscriptions
        that named their own default (as the portal's payment method update does)."""
        self.card = pm
        self.customer["invoice_settings"]["default_payment_method"] = pm["id"]
        self.emit(self.customer, "customer.updated", t)
        for sub in self.subscriptions.values():
            if sub["default_payment_method"] not in (None, pm["id"]) and sub["status"] != "canceled":
                sub["default_payment_method"] = pm["id"]
                self.emit(sub, "customer.subscription.updated", t)

    def detach(self, pm: dict[str, Any], t: int) -> None:
        """Stripe clears `customer` and names the former one in the event only."""
        previous = {"customer": pm["customer"]}
        pm["customer"] = None
        self.emit(pm, "payment_method.detached", t, previous)

    def auto_update(self, pm: dict[str, Any], t: int, automatic: bool = True) -> None:
        """A card's new expiry, same method: from the card networks' updater (sometimes
        with a new number too), or typed in by the customer (`automatic` False)."""
        card = pm["card"]
        previous = {"card": {"exp_month": card["exp_month"], "exp_year": card["exp_year"]}}
        card["exp_month"] = self.rng.randint(1, 12)
        card["exp_year"] = datetime.fromtimestamp(t, UTC).year + self.rng.randint(2, 4)
        if automatic and self.rng.random() < 0.3:
            previous["card"]["last4"] = card["last4"]
            card["last4"] = f"{self.rng.randint(0, 9999):04d}"
            if card["wallet"] is not None:
                card["wallet"]["dynamic_last4"] = card["last4"]
        kind = "payment_method.automatically_updated" if automatic else "payment_method.updated"
        self.emit(pm, kind, t, previous)

    def expired_card_decline(self, t: int) -> str | None:
        """`expired_card` when the default card ran out before `t` and the updater has no
        new expiry for it; when it has, the card is updated now and None is the answer."""
        if not has_expired(self.card, t):
            return None
        if self.rng.random() < UPDATER_HIT_RATE:
            self.auto_update(self.card, t)
            return None
        return "expired_card"

    def set_delinquent(self, value: bool, t: int) -> None:
        if self.customer["delinquent"] != value:
            self.advance(t)
            self.customer["delinquent"] = value
            self.emit(self.customer, "customer.updated", t)

    def delete_customer(self, t: int) -> None:
        self.advance(t)
        self.profile_edits.clear()
        self.emit(self.customer, "customer.deleted", t)
        self.customer["deleted"] = True

    # subscriptions

    def start_subscription(self, t: int, price: dict[str, Any], quantity: int, trial_days: int) -> dict:
        rng = self.rng
        sub_id = shapes.random_id(rng, "sub_1", 23)
        end = t + trial_days * DAY if trial_days else add_months(t, months_of(price))
        item = shapes.subscription_item(shapes.random_id(rng, "si_"), t, sub_id, price, quantity, t, end)
        sub = shapes.subscription(sub_id, t, self.customer["id"], price["currency"], item)
        # A few subscriptions name their own default, as Checkout sets it.
        sub["default_payment_method"] = self.card["id"] if rng.random() < 0.1 else None
        sub["billing_cycle_anchor"] = end if trial_days else t
        if trial_days:
            sub.update(status="trialing", trial_start=t, trial_end=end)
        else:
            sub["status"] = "incomplete"
        self.subscriptions[sub_id] = sub
        amount = 0 if trial_days else price["unit_amount"] * quantity
        inv = self.open_invoice(sub, t, "subscription_create", amount, (t, end), (t, t))
        self.emit(sub, "customer.subscription.created", t)
        self.finalize(inv, t)
        return sub

    def item(self, sub: dict[str, Any]) -> dict[str, Any]:
        return sub["items"]["data"][0]

    def renew(self, sub: dict[str, Any], t: int) -> dict[str, Any]:
        """Start the next period at `t` (the end of the current one) and open its invoice."""
        item = self.item(sub)
        price = item["price"]
        previous_start = item["current_period_start"]
        anchor, step = sub["billing_cycle_anchor"], months_of(price)
        periods = 1
        while (end := add_months(anchor, periods * step)) <= t:
            periods += 1
        item["current_period_start"], item["current_period_end"] = t, end
        if sub["status"] == "trialing":
            sub["status"] = "active"
        amount = price["unit_amount"] * item["quantity"]
        return self.open_invoice(sub, t, "subscription_cycle", amount, (t, end), (previous_start, t))

    def cancel(self, sub: dict[str, Any], t: int, reason: str, at_period_end: bool) -> None:
        details = sub["cancellation_details"]
        details["reason"] = reason
        if reason == "cancellation_requested":
            details["feedback"] = self.rng.choice(FEEDBACK)
        sub["canceled_at"] = t
        if at_period_end:
            sub["cancel_at_period_end"] = True
            sub["cancel_at"] = self.item(sub)["current_period_end"]
            self.emit(sub, "customer.subscription.updated", t)
        else:
            sub["status"] = "canceled"
            sub["ended_at"] = t
            self.emit(sub, "customer.subscription.deleted", t)

    def end_at_period_end(self, sub: dict[str, Any], t: int) -> None:
        sub["status"] = "canceled"
        sub["ended_at"] = t
        self.emit(sub, "customer.subscription.deleted", t)

    def change_price(self, sub: dict[str, Any], t: int, new_price: dict[str, Any]) -> None:
        item = self.item(sub)
        old = item["price"]
        start, end = item["current_period_start"], item["current_period_end"]
        item["price"] = new_price
        item["plan"] = shapes.plan_of(new_price)
        self.emit(sub, "customer.subscription.updated", t)
        difference = (new_price["unit_amount"] - old["unit_amount"]) * item["quantity"]
        if difference > 0 and end > start:
            # Upgrades are invoiced at once for the rest of the period; downgrades
            # become a credit on the next invoice (not simulated).
            amount = difference * (end - t) // (end - start)
            inv = self.open_invoice(sub, t, "subscription_update", amount, (t, end), (t, t))
            self.finalize(inv, t)
            self.attempt(inv, t, None)

    # invoices and payments

    def open_invoice(
        self,
        sub: dict[str, Any],
        t: int,
        reason: str,
        amount: int,
        period: tuple[int, int],
        invoice_period: tuple[int, int],
    ) -> dict[str, Any]:
        item = self.item(sub)
        price = item["price"]
        description = f"{item['quantity']} × {price['nickname']}"
        inv = shapes.invoice(
            shapes.random_id(self.rng, "in_1", 23),
            t,
            self.customer,
            sub["id"],
            item,
            sub["currency"],
            amount,
            reason,
            period,
            invoice_period,
            description,
        )
        self.invoices[inv["id"]] = inv
        sub["latest_invoice"] = inv["id"]
        self.emit(inv, "invoice.created", t)
        if reason != "subscription_create":
            self.emit(sub, "customer.subscription.updated", t)
        return inv

    def finalize(self, inv: dict[str, Any], t: int) -> None:
        self.advance(t)
        cust = self.customer
        sequence = cust["next_invoice_sequence"]
        cust["next_invoice_sequence"] = sequence + 1
        inv.update(
            status="open",
            number=f"{cust['invoice_prefix']}-{sequence:04d}",
            effective_at=t,
            automatically_finalizes_at=None,
            hosted_invoice_url=f"/i/{inv['id']}",
            invoice_pdf=f"/i/{inv['id']}/pdf",
        )
        inv["status_transitions"]["finalized_at"] = t
        self.emit(cust, "customer.updated", t)
        self.emit(inv, "invoice.finalized", t)
        if inv["amount_due"] == 0:
            self.mark_paid(inv, t)

    def mark_paid(self, inv: dict[str, Any], t: int) -> None:
        inv.update(
            status="paid",
            amount_paid=inv["amount_due"],
            amount_remaining=0,
            next_payment_attempt=None,
            auto_advance=False,
        )
        inv["status_transitions"]["paid_at"] = t
        self.emit(inv, "invoice.paid", t)
        self.emit(inv, "invoice.payment_succeeded", t)

    def attempt(
        self, inv: dict[str, Any], t: int, decline: str | None, next_attempt: int | None = None
    ) -> None:
        """One charge attempt on an open invoice, at `t`; `decline` None means it succeeds."""
        rng = self.rng
        pi = self.payment_intent_of(inv)
        if pi is None:
            pi = shapes.payment_intent(
                shapes.random_id(rng, "pi_3", 23),
                t,
                self.customer["id"],
                inv["currency"],
                inv["amount_due"],
                "Subscription update" if inv["billing_reason"] == "subscription_update" else "Subscription",
                rng,
            )
            self.payment_intents[pi["id"]] = pi
            self.invoice_payments[inv["id"]] = shapes.invoice_payment(
                shapes.random_id(rng, "inpay_1", 23), t, inv, pi["id"]
            )
            self.emit(pi, "payment_intent.created", t)
        if decline != "expired_card" and has_expired(self.card, t):
            # A charge that does not fail for it cannot use an expired card: the updater
            # found its new expiry first.
            self.auto_update(self.card, t)
        ch = shapes.charge(shapes.random_id(rng, "ch_3", 23), t, pi, self.customer, self.card, decline, rng)
        self.charges.append(ch)
        pi.update(latest_charge=ch["id"], payment_method=self.card["id"])
        inv.update(attempt_count=inv["attempt_count"] + 1, attempted=True)
        sub = self.subscriptions.get(inv["parent"]["subscription_details"]["subscription"])
        if decline is None:
            pi.update(status="succeeded", amount_received=pi["amount"], last_payment_error=None)
            ip = self.invoice_payments[inv["id"]]
            ip.update(status="paid", amount_paid=inv["amount_due"])
            ip["status_transitions"]["paid_at"] = t
            self.emit(ch, "charge.succeeded", t)
            self.emit(pi, "payment_intent.succeeded", t)
            self.emit(ip, "invoice_payment.paid", t)
            self.mark_paid(inv, t)
            if sub is not None and sub["status"] in ("past_due", "incomplete", "unpaid"):
                sub["status"] = "active"
                self.emit(sub, "customer.subscription.updated", t)
            self.set_delinquent(False, t)
            return
        code, message = shapes.DECLINES[decline]
        pi.update(
            status="requires_payment_method",
            last_payment_error={
                "charge": ch["id"],
                "code": code,
                "decline_code": decline if code == "card_declined" else None,
                "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
                "message": message,
                "type": "card_error",
            },
        )
        inv["next_payment_attempt"] = next_attempt
        self.emit(ch, "charge.failed", t)
        self.emit(pi, "payment_intent.payment_failed", t)
        self.emit(inv, "invoice.payment_failed", t)
        # Stripe follows with invoice.updated for the new attempt_count / next_payment_attempt.
        self.emit(inv, "invoice.updated", t)
        if sub is not None and sub["status"] in ("active", "trialing"):
            sub["status"] = "past_due"
            self.emit(sub, "customer.subscription.updated", t)
        self.set_delinquent(True, t)

    def payment_intent_of(self, inv: dict[str, Any]) -> dict[str, Any] | None:
        ip = self.invoice_payments.get(inv["id"])
        return None if ip is None else self.payment_intents[ip["payment"]["payment_intent"]]

    def close_unpaid(self, inv: dict[str, Any], t: int, void: bool) -> None:
        """End of dunning (or of an incomplete first payment): void or write off the invoice."""
        inv.update(next_payment_attempt=None, auto_advance=False)
        pi = self.payment_intent_of(inv)
        if void:
            inv.update(status="void", amount_remaining=0)
            inv["status_transitions"]["voided_at"] = t
            self.emit(inv, "invoice.voided", t)
            if pi is not None:
                pi.update(status="canceled", canceled_at=t, cancellation_reason="void_invoice")
                self.emit(pi, "payment_intent.canceled", t)
                ip = self.invoice_payments[inv["id"]]
                ip["status"] = "canceled"
                ip["status_transitions"]["canceled_at"] = t
        else:
            inv["status"] = "uncollectible"
            inv["status_transitions"]["marked_uncollectible_at"] = t
            self.emit(inv, "invoice.marked_uncollectible", t)

    def all_objects(self) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = [("customers", self.customer)]
        for sub in self.subscriptions.values():
            out.append(("subscriptions", sub))
            out.append(("subscription_items", self.item(sub)))
        out += [("invoices", inv) for inv in self.invoices.values()]
        out += [("payment_intents", pi) for pi in self.payment_intents.values()]
        out += [("invoice_payments", ip) for ip in self.invoice_payments.values()]
        out += [("charges", ch) for ch in self.charges]
        out += [("payment_methods", pm) for pm in self.payment_methods.values()]
        return out


def months_of(price: dict[str, Any]) -> int:
    recurring = price["recurring"]
    return recurring["interval_count"] * (12 if recurring["interval"] == "year" else 1)


def new_payment_method(
    rng: random.Random, t: int, cust: dict[str, Any], wallet_rate: float = 0.15
) -> dict[str, Any]:
    """A method the customer gives at `t`: a card (some in a wallet), or for some euro
    customers a SEPA direct debit mandate."""
    pm_id = shapes.random_id(rng, "pm_1", 23)
    fingerprint = shapes.random_id(rng, "", 16)
    if cust["currency"] == "eur" and rng.random() < 0.2:
        country = cust["address"]["country"] if cust["address"]["country"] in ("FR", "DE", "ES") else "DE"
        debit = shapes.sepa_debit(
            f"{rng.randint(10000000, 99999999)}", country, fingerprint, f"{rng.randint(0, 9999):04d}"
        )
        return shapes.payment_method(pm_id, t, "sepa_debit", debit, cust)
    moment = datetime.fromtimestamp(t, UTC)
    wallet = weighted(rng, [("apple_pay", 0.6), ("google_pay", 0.4)]) if rng.random() < wallet_rate else None
    card = shapes.card(
        weighted(rng, [("visa", 0.55), ("mastercard", 0.3), ("amex", 0.1), ("discover", 0.05)]),
        f"{rng.randint(0, 9999):04d}",
        rng.randint(1, 12),
        # Some cards run out within the account's history, a few the very month they are given.
        moment.year + weighted(rng, [(0, 0.05), (1, 0.25), (2, 0.25), (3, 0.2), (4, 0.15), (5, 0.1)]),
        rng.choice(["US", "FR", "DE", "GB", "JP", "ES"]),
        fingerprint,
        wallet,
    )
    if (card["exp_year"], card["exp_month"]) < (moment.year, moment.month):
        card["exp_month"] = 12  # never expired when given
    return shapes.payment_method(pm_id, t, "card", card, cust)


def has_expired(pm: dict[str, Any], t: int) -> bool:
    """A card is valid through the last day of its expiry month."""
    if pm["type"] != "card":
        return False
    moment = datetime.fromtimestamp(t, UTC)
    return (pm["card"]["exp_year"], pm["card"]["exp_month"]) < (moment.year, moment.month)
