"""Portal links on behalf of a customer: the rules, in one place.

`create_link` checks the agent's role and hourly limit, reads the customer from
the warehouse (the only source of the recipient), asks Stripe for the session
(console/portal.py) and delivers it: shown once to the agent, or emailed through
the outbox (console/outbox.py). Every request ends as an audit row.

One request, one session, one email: the caller passes a request key that is
the same for a double click or a Streamlit rerun of the same form submission.
It is the Stripe idempotency key, the primary key of `link_requests` and the
outbox's unique key, so a replay finds the first attempt's work instead of
repeating it.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from console import audit, mail, ops, outbox, portal
from console.access import StaffUser, can_create_links
from console.mail import DunningInvoice
from console.money import format_money
from console.warehouse import WarehouseMissing, open_warehouse
from settings import Settings

DELIVERIES = ("copy", "email")
_CANCELABLE = frozenset({"active", "trialing", "past_due", "unpaid", "paused"})
_UPDATABLE = frozenset({"active", "trialing", "past_due"})


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
    label: str
    plan: str  # product and price nickname, as the customer knows the subscription
    currency: str | None
    item_id: str | None  # the subscription's item, when it has exactly one (plan changes need that)
    price_id: str | None
    cancel_at_period_end: bool

    @property
    def cancelable(self) -> bool:
        return self.status in _CANCELABLE and not self.cancel_at_period_end

    @property
    def updatable(self) -> bool:
        return self.status in _UPDATABLE and self.item_id is not None


@dataclass(frozen=True)
class LinkContext:
    """What the warehouse knows about a customer that a portal link depends on."""

    customer_id: str
    name: str | None
    email: str | None
    deleted: bool
    preferred_locales: tuple[str, ...]
    dunning_invoice: DunningInvoice | None
    subscriptions: tuple[SubscriptionChoice, ...]
    prices: tuple[PriceChoice, ...]

    @property
    def default_flow(self) -> str:
        return "payment_method_update" if self.dunning_invoice else "portal"

    @property
    def locale(self) -> str | None:
        return portal.portal_locale(list(self.preferred_locales))

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
            return "This customer is deleted in Stripe: no portal link can be made."
        try:
            mail.customer_address(self.name, self.email)
        except mail.RecipientError as problem:
            return f"{problem} Emailing is not possible; fix the address in Stripe first."
        return None


@dataclass(frozen=True)
class LinkRequest:
    customer_id: str
    flow: str
    delivery: str  # copy | email
    subscription_id: str | None = None
    price_id: str | None = None


@dataclass(frozen=True)
class LinkResult:
    outcome: str  # created | emailed | written | queued
    message: str
    session_id: str
    recipient: str | None = None
    error: str | None = None  # why the email is still queued
    url: str | None = field(default=None, repr=False)  # only for delivery "copy": show once, never store


def request_key(staff: StaffUser, request: LinkRequest, nonce: str) -> str:
    """The same for a double click or rerun of one form submission (same nonce), else different."""
    parts = (staff.username, request.customer_id, request.flow, request.subscription_id or "",
             request.price_id or "", request.delivery, nonce)  # fmt: skip
    return "portal-link-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _money_label(amount: int | None, currency: str | None, interval: str | None, count: int | None) -> str:
    money = format_money(amount, currency)
    if not interval:
        return money
    every = interval if not count or count == 1 else f"{count} {interval}s"
    return f"{money}/{every}"


def link_context(billing_db: Path, customer_id: str) -> LinkContext:
    """The customer's contact, dunning invoice, subscriptions and plan prices; LinkError if unknown."""
    try:
        conn = open_warehouse(billing_db)
    except WarehouseMissing as missing:
        raise LinkError(str(missing)) from None
    with closing(conn):
        customer = conn.execute(
            "SELECT id, name, email, deleted, preferred_locales FROM customers WHERE id = ?", [customer_id]
        ).fetchone()
        if customer is None:
            raise LinkError(f"No customer {customer_id!r} in the warehouse.")
        invoice = conn.execute(
            """
            SELECT i.number, i.amount_remaining, i.currency, i.hosted_invoice_url
            FROM invoices i
            WHERE i.customer_id = ? AND i.status = 'open' AND i.hosted_invoice_url IS NOT NULL
              AND EXISTS (SELECT 1 FROM payment_attempts p WHERE p.invoice_id = i.id AND p.status = 'failed')
            ORDER BY i.created DESC LIMIT 1
            """,
            [customer_id],
        ).fetchone()
        subscriptions = conn.execute(
            """
            SELECT s.id, s.status, s.currency, s.cancel_at_period_end, count(si.id) AS items,
                   min(si.id), min(si.price_id), min(pr.nickname), min(prod.name), min(pr.unit_amount),
                   min(pr.currency), min(pr.recurring_interval), min(pr.recurring_interval_count)
            FROM subscriptions s
            LEFT JOIN subscription_items si ON si.subscription_id = s.id
            LEFT JOIN prices pr ON pr.id = si.price_id
            LEFT JOIN products prod ON prod.id = pr.product_id
            WHERE s.customer_id = ?
            GROUP BY s.id, s.status, s.currency, s.cancel_at_period_end, s.created
            ORDER BY s.created DESC
            """,
            [customer_id],
        ).fetchall()
        prices = conn.execute(
            """
            SELECT pr.id, pr.nickname, prod.name, pr.unit_amount, pr.currency, pr.recurring_interval,
                   pr.recurring_interval_count
            FROM prices pr LEFT JOIN products prod ON prod.id = pr.product_id
            WHERE coalesce(pr.active, TRUE) AND pr.recurring_interval IS NOT NULL
            ORDER BY prod.name, pr.currency, pr.unit_amount
            """
        ).fetchall()
    choices = []
    for (
        sub_id,
        status,
        currency,
        at_period_end,
        items,
        item_id,
        price_id,
        nick,
        product,
        amount,
        *rest,
    ) in subscriptions:
        plan = " ".join(part for part in (product, nick) if part) or (price_id or "no items")
        more = f" +{items - 1} more items" if items > 1 else ""
        ending = ", cancels at period end" if at_period_end else ""
        label = f"{sub_id}: {plan} {_money_label(amount, *rest)}{more} ({status}{ending})"
        choices.append(
            SubscriptionChoice(
                id=sub_id, status=status, label=label, plan=plan, currency=currency or rest[0],
                item_id=item_id if items == 1 else None, price_id=price_id,
                cancel_at_period_end=bool(at_period_end),
            )
        )  # fmt: skip
    return LinkContext(
        customer_id=customer[0],
        name=customer[1],
        email=customer[2],
        deleted=bool(customer[3]),
        preferred_locales=tuple(customer[4] or ()),
        dunning_invoice=(
            DunningInvoice(number=invoice[0], amount=format_money(invoice[1], invoice[2]), url=invoice[3])
            if invoice
            else None
        ),
        subscriptions=tuple(choices),
        prices=tuple(
            PriceChoice(
                id=pid,
                label=f"{' '.join(p for p in (name, nick) if p) or pid} {_money_label(amount, cur, iv, n)}",
                currency=cur,
            )
            for pid, nick, name, amount, cur, iv, n in prices
        ),
    )


def _target(
    context: LinkContext, request: LinkRequest
) -> tuple[SubscriptionChoice | None, PriceChoice | None]:
    """The chosen subscription and price, checked against what the flow allows; LinkError otherwise."""
    if request.flow not in portal.SUBSCRIPTION_FLOWS:
        return None, None
    subscription = next((s for s in context.subscriptions if s.id == request.subscription_id), None)
    if subscription is None:
        raise LinkError("Choose one of this customer's subscriptions.")
    if subscription not in context.subscriptions_for(request.flow):
        verb = "canceled" if request.flow == "subscription_cancel" else "changed"
        if verb == "changed" and subscription.item_id is None:
            why = "it has several items"
        elif subscription.cancel_at_period_end:
            why = "it is already set to cancel at the end of the period"
        else:
            why = f"it is {subscription.status}"
        raise LinkError(f"Subscription {subscription.id} cannot be {verb} in the portal: {why}.")
    if request.flow != "subscription_update_confirm":
        return subscription, None
    price = next((p for p in context.prices_for(subscription) if p.id == request.price_id), None)
    if price is None:
        raise LinkError(f"Price {request.price_id!r} is not a plan this subscription can move to.")
    return subscription, price


def create_link(settings: Settings, staff: StaffUser, request: LinkRequest, key: str) -> LinkResult:
    """Make the portal session and deliver it; LinkError (audited) when refused or failed."""
    with closing(ops.connect(settings.ops_db)) as conn:
        return _create_link(settings, conn, staff, request, key)


def _create_link(
    settings: Settings, conn: sqlite3.Connection, staff: StaffUser, request: LinkRequest, key: str
) -> LinkResult:
    def entry(outcome: str, **more: str | None) -> audit.AuditEntry:
        return audit.AuditEntry(
            agent=staff.username, role=staff.role, customer_id=request.customer_id, flow=request.flow,
            delivery=request.delivery, outcome=outcome, subscription_id=request.subscription_id,
            price_id=request.price_id, request_key=key, **more,
        )  # fmt: skip

    def stop(outcome: str, message: str) -> LinkError:
        audit.record(conn, entry(outcome, error=message))
        return LinkError(message)

    if not can_create_links(staff.role):
        raise stop("refused", f"Your role ({staff.role}) cannot create portal links.")
    if request.flow not in portal.FLOWS or request.delivery not in DELIVERIES:
        raise stop("refused", f"Unknown portal flow or delivery ({request.flow}, {request.delivery}).")
    replay = conn.execute("SELECT 1 FROM link_requests WHERE request_key = ?", (key,)).fetchone() is not None
    if not replay:
        made = audit.links_in_last_hour(conn, staff.username)
        if made >= settings.portal_links_per_hour:
            raise stop(
                "refused",
                f"You have made {made} portal links in the last hour, the limit "
                f"(PORTAL_LINKS_PER_HOUR={settings.portal_links_per_hour}). Try again later.",
            )
    try:
        context = link_context(settings.billing_db, request.customer_id)
        if context.deleted:
            raise LinkError("This customer is deleted in Stripe: no portal link can be made.")
        if request.delivery == "email" and (problem := context.recipient_problem()):
            raise LinkError(problem)
        subscription, price = _target(context, request)
    except LinkError as refused:
        raise stop("refused", str(refused)) from None

    already = outbox.find(conn, key) if request.delivery == "email" else None
    if already is not None:  # a replay of an email request: its message exists, nothing more to send
        session_id = conn.execute(
            "SELECT stripe_session_id FROM link_requests WHERE request_key = ?", (key,)
        ).fetchone()[0]
        result = _email_result(already, session_id)
        _audit_once(conn, key, entry(result.outcome, stripe_session_id=session_id, error=already.error))
        return result

    with conn:
        conn.execute(
            "INSERT INTO link_requests (request_key, at, agent, customer_id) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (request_key) DO NOTHING",
            (key, ops.utc_now_text(), staff.username, request.customer_id),
        )
    params = portal.session_params(
        settings, request.customer_id, request.flow, locale=context.locale,
        subscription_id=subscription.id if subscription else None,
        item_id=subscription.item_id if subscription else None,
        price_id=price.id if price else None,
    )  # fmt: skip
    try:
        session = portal.create_session(settings, params, idempotency_key=key)
    except portal.PortalError as failure:
        raise stop("failed", str(failure)) from None
    with conn:
        conn.execute(
            "UPDATE link_requests SET stripe_session_id = ? WHERE request_key = ?", (session.id, key)
        )

    if request.delivery == "copy":
        _audit_once(conn, key, entry("created", stripe_session_id=session.id))
        return LinkResult(
            outcome="created",
            message="Portal link made. It is shown once: copy it now.",
            session_id=session.id,
            url=session.url,
        )

    to = mail.customer_address(context.name, context.email)
    try:
        message = mail.compose_portal_email(
            settings, to=to, flow=request.flow, url=session.url,
            target=f"your {subscription.plan} subscription" if subscription else None,
            price=price.label if price else None, invoice=context.dunning_invoice,
        )  # fmt: skip
    except mail.MailError as problem:
        raise stop("failed", str(problem)) from None
    outbox_id = outbox.record(
        conn, request_key=key, customer_id=request.customer_id,
        sender=mail.sender_address(settings).addr_spec, recipient=to.addr_spec,
        subject=str(message["Subject"]), message=message.as_bytes(),
    )  # fmt: skip
    result = _email_result(outbox.deliver(settings, conn, outbox_id), session.id)
    _audit_once(conn, key, entry(result.outcome, stripe_session_id=session.id, error=result.error))
    return result


def _audit_once(conn: sqlite3.Connection, key: str, entry: audit.AuditEntry) -> None:
    """Record a made link, unless an interrupted earlier run of the same request already did."""
    first = audit.first_for_request(conn, key)
    if first is None or first.outcome not in audit.LINKS_MADE:
        audit.record(conn, entry)


def _email_result(delivery: outbox.Delivery, session_id: str) -> LinkResult:
    if delivery.status == "sent":
        outcome, text = "emailed", f"Portal link emailed to {delivery.recipient}."
    elif delivery.status == "written":
        outcome, text = (
            "written",
            f"Portal link for {delivery.recipient} written to the outbox folder (no SMTP).",
        )
    else:
        outcome = "queued"
        text = (
            f"Portal link made, but the email to {delivery.recipient} has not been sent yet"
            f"{': ' + delivery.error if delivery.error else ''}. It waits in the outbox; an admin can "
            "retry it from the Outbox page."
        )
    return LinkResult(
        outcome=outcome,
        message=text,
        session_id=session_id,
        recipient=delivery.recipient,
        error=delivery.error,
    )


def retry_email(settings: Settings, staff: StaffUser, outbox_id: int) -> outbox.Delivery:
    """Send a queued message again (the outbox page's retry); audited. LinkError if not allowed."""
    if not can_create_links(staff.role):
        raise LinkError(f"Your role ({staff.role}) cannot send portal links.")
    with closing(ops.connect(settings.ops_db)) as conn:
        delivery = outbox.deliver(settings, conn, outbox_id)
        if not delivery.attempted:
            raise LinkError(f"Message {outbox_id} is not waiting to be sent (it is {delivery.status}).")
        first = audit.first_for_request(conn, delivery.request_key)
        audit.record(
            conn,
            audit.AuditEntry(
                agent=staff.username, role=staff.role, customer_id=delivery.customer_id,
                flow=first.flow if first else "portal", delivery="email",
                outcome="retry_sent" if delivery.delivered else "retry_failed",
                subscription_id=first.subscription_id if first else None,
                price_id=first.price_id if first else None,
                stripe_session_id=first.stripe_session_id if first else None,
                error=delivery.error, request_key=delivery.request_key,
            ),
        )  # fmt: skip
        return delivery
