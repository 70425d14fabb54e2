"""Which Stripe lists feed the warehouse, and which events change what they hold."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resource:
    name: str  # our name, also the progress label
    path: str  # list endpoint; `<path>/<id>` retrieves one object
    object: str  # Stripe's `object` value of its items
    params: dict[str, str] = field(default_factory=dict)
    # Whether the warehouse can live without it: a Stripe-compatible server that lacks the
    # endpoint (localstripe has no prices nor invoice_payments) degrades instead of failing.
    optional: bool = False
    # Ids on each listed object to receive as objects (Stripe's `expand[]`): the object
    # comes in the same page instead of costing a request of its own. Dropped, with a
    # warning, on a server that refuses it.
    expand: tuple[str, ...] = ()


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "customers", "/v1/customers", "customer", expand=("data.invoice_settings.default_payment_method",)
    ),
    Resource("products", "/v1/products", "product"),
    # Prices are also read from subscription items, which embed them in full.
    Resource("prices", "/v1/prices", "price", optional=True),
    # Without status=all, Stripe leaves canceled subscriptions out of the list.
    Resource(
        "subscriptions",
        "/v1/subscriptions",
        "subscription",
        {"status": "all"},
        expand=("data.default_payment_method",),
    ),
    Resource("invoices", "/v1/invoices", "invoice"),
    # Links invoices to payment intents (current API); older shapes link through
    # invoice.payment_intent / invoice.charge / charge.invoice instead.
    Resource("invoice_payments", "/v1/invoice_payments", "invoice_payment", optional=True),
    Resource("charges", "/v1/charges", "charge"),
)

BY_OBJECT: dict[str, Resource] = {r.object: r for r in RESOURCES}
# Older API versions and localstripe name prices `plan`.
BY_OBJECT["plan"] = BY_OBJECT["price"]
# Payment methods are only retrieved by id: Stripe lists them per customer, never for the
# whole account, so the backfill takes them from the lists above (expanded defaults) and
# from the events Stripe keeps (PAYMENT_METHOD_EVENTS).
BY_OBJECT["payment_method"] = Resource("payment_methods", "/v1/payment_methods", "payment_method")
PAYMENT_METHOD_EVENTS: tuple[str, ...] = (
    "payment_method.attached",
    "payment_method.updated",
    "payment_method.automatically_updated",
    "payment_method.detached",
)

# Event types the warehouse reads, in groups of at most 20 (the Events API limit for
# `types[]`). All types of one object share a group, so that the API's own order
# settles events of the same object created in the same second.
EVENT_TYPE_GROUPS: tuple[tuple[str, ...], ...] = (
    (
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "product.created",
        "product.updated",
        "product.deleted",
        "price.created",
        "price.updated",
        "price.deleted",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.pending_update_applied",
        "customer.subscription.pending_update_expired",
        *PAYMENT_METHOD_EVENTS,
    ),
    (
        "invoice.created",
        "invoice.updated",
        "invoice.deleted",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "invoice_payment.paid",
        "charge.succeeded",
        "charge.failed",
        "charge.pending",
        "charge.captured",
        "charge.updated",
        "charge.expired",
        "charge.refunded",
    ),
)
EVENT_TYPES: frozenset[str] = frozenset(t for group in EVENT_TYPE_GROUPS for t in group)
