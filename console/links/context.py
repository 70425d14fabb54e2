"""What a portal link for a customer depends on, as the warehouse knows it: their contact,
their invoice in dunning, the subscriptions a flow may act on and the plans to move to.
`LinkContext.seen_live` puts what Stripe says now over it (console/links/live_customer.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from console.display.money import format_money
from console.display.text import plan_name
from console.links import mail, portal
from console.links.live_customer import LiveCustomer
from console.warehouse import customers
from console.warehouse.snapshots import WarehouseMissing, reading
from console.warehouse.synced_customer import SyncedCustomer, synced_customer

_CANCELABLE = frozenset({"active", "trialing", "past_due", "unpaid", "paused"})
_UPDATABLE = frozenset({"active", "trialing", "past_due"})


DELETED_CUSTOMER = "This customer is deleted in Stripe: no portal link can be made."


class LinkError(Exception):
    """No link was delivered. The message is for the agent and never holds a portal URL."""


@dataclass(frozen=True)
class PriceChoice:
    id: str
    label: str
    currency: str | None


@dataclass(frozen=True)
class SubscriptionChoice:
    id: str
    status: str
    summary: str  # id, plan and amount; the label adds the status
    plan: str  # product and price nickname, as the customer knows the subscription
    currency: str | None
    item_id: str | None  # the subscription's item, when it has exactly one (plan changes need that)
    price_id: str | None
    cancel_at_period_end: bool

    @property
    def label(self) -> str:
        ending = ", cancels at period end" if self.cancel_at_period_end else ""
        return f"{self.summary} ({self.status}{ending})"

    @property
    def cancelable(self) -> bool:
        return self.status in _CANCELABLE and not self.cancel_at_period_end

    @property
    def updatable(self) -> bool:
        return self.status in _UPDATABLE and self.item_id is not None


@dataclass(frozen=True)
class LinkContext:
    customer_id: str
    name: str | None
    email: str | None
    deleted: bool
    preferred_locales: tuple[str, ...]
    dunning_invoice: mail.DunningInvoice | None
    subscriptions: tuple[SubscriptionChoice, ...]
    prices: tuple[PriceChoice, ...]
    synced: SyncedCustomer  # what the live look is compared with
    live: LiveCustomer | None = None  # set by `seen_live`

    @property
    def default_flow(self) -> str:
        """A customer in dunning most likely needs a new card; anyone else, the whole portal."""
        return "payment_method_update" if self.dunning_invoice else "portal"

    @property
    def locale(self) -> str | None:
        return portal.portal_locale(list(self.preferred_locales))

    def seen_live(self, live: LiveCustomer) -> LinkContext:
        """This context with Stripe's current contact, dunning invoice and subscription states.

        A subscription created since the sync is not offered (its plan is not in the warehouse
        yet); one that ended since is kept with its new status, so no flow accepts it.
        """
        states = {s.id: s for s in live.subscriptions}
        return replace(
            self,
            name=live.name,
            email=live.email,
            deleted=live.deleted,
            preferred_locales=live.preferred_locales,
            dunning_invoice=live.dunning_mail_invoice(),
            subscriptions=tuple(
                replace(s, status=states[s.id].status, cancel_at_period_end=states[s.id].cancel_at_period_end)
                if s.id in states
                else s
                for s in self.subscriptions
            ),
            live=live,
        )

    def subscriptions_for(self, flow: str) -> list[SubscriptionChoice]:
        if flow == "subscription_cancel":
            return [s for s in self.subscriptions if s.cancelable]
        if flow in {"subscription_update", "subscription_update_confirm"}:
            return [s for s in self.subscriptions if s.updatable]
        return []

    def prices_for(self, subscription: SubscriptionChoice) -> list[PriceChoice]:
        """Prices a plan change may move to: same currency, not the current one."""
        return [
            p for p in self.prices if p.currency == subscription.currency and p.id != subscription.price_id
        ]

    def recipient_problem(self) -> str | None:
        """Why no email can go to this customer, or None."""
        if self.deleted:
            return DELETED_CUSTOMER
        try:
            mail.customer_address(self.name, self.email)
        except mail.RecipientError as problem:
            return f"{problem} Emailing is not possible; fix the address in Stripe first."
        return None


def _money_label(amount: int | None, currency: str | None, interval: str | None, count: int | None) -> str:
    money = format_money(amount, currency)
    if not interval:
        return money
    every = interval if not count or count == 1 else f"{count} {interval}s"
    return f"{money}/{every}"


def _subscription_choice(row: tuple) -> SubscriptionChoice:
    sub_id, status, currency, at_period_end, items, item_id, price_id, nick, product, amount, *rest = row
    plan = plan_name(product, nick, price_id or "no items")
    more = f" +{items - 1} more items" if items > 1 else ""
    summary = f"{sub_id}: {plan} {_money_label(amount, *rest)}{more}"
    return SubscriptionChoice(
        id=sub_id, status=status, summary=summary, plan=plan, currency=currency or rest[0],
        item_id=item_id if items == 1 else None, price_id=price_id,
        cancel_at_period_end=bool(at_period_end),
    )  # fmt: skip


def _price_choice(row: tuple) -> PriceChoice:
    price_id, nick, product, amount, currency, interval, count = row
    label = f"{plan_name(product, nick, price_id)} {_money_label(amount, currency, interval, count)}"
    return PriceChoice(id=price_id, label=label, currency=currency)


def link_context(billing_db: Path, customer_id: str) -> LinkContext:
    """The customer's contact, dunning invoice, subscriptions and plan prices; LinkError if unknown."""
    try:
        with reading(billing_db) as con:
            contact = customers.portal_contact(con, customer_id)
            if contact is None:
                raise LinkError(f"No customer {customer_id!r} in the warehouse.")
            invoice = customers.latest_invoice_in_dunning(con, customer_id)
            subscriptions = customers.subscription_plans(con, customer_id)
            prices = customers.recurring_prices(con)
            synced = synced_customer(con, customer_id)
    except WarehouseMissing as missing:
        raise LinkError(str(missing)) from None
    cid, name, email, deleted, locales = contact
    return LinkContext(
        customer_id=cid,
        name=name,
        email=email,
        deleted=bool(deleted),
        preferred_locales=tuple(locales or ()),
        dunning_invoice=(
            mail.DunningInvoice(
                number=invoice[0], amount=format_money(invoice[1], invoice[2]), url=invoice[3]
            )
            if invoice
            else None
        ),
        subscriptions=tuple(_subscription_choice(row) for row in subscriptions),
        prices=tuple(_price_choice(row) for row in prices),
        synced=synced,
    )
