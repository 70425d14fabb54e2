"""Portal links on behalf of a customer: the rules of a request, in one place.

`create_link` checks the agent's role, reads the customer from the warehouse, reserves a
slot under their hourly limit, re-checks the customer live in Stripe, asks Stripe for the
session (console/links/portal.py) and delivers it: shown once to the agent, or emailed
through the outbox (console/links/delivery.py). Every request ends as an audit row, except
one paused for the agent's confirmation.

**The live re-check.** The warehouse lags Stripe by up to one sync, and a link acts on the
customer now: so the recipient (the email on Stripe's record now), the email's unpaid
invoice and its payment page come from Stripe's answer, never from the warehouse. When
Stripe differs from what the agent saw (an invoice paid since the sync, a new email, a
subscription canceled), the request stops with `NeedsConfirmation`; the agent confirms
those differences and sends the request again carrying their fingerprint. A customer
deleted in Stripe is refused. When Stripe cannot be read, the request is refused too: a
link is never made on data that may be stale.

One request, one session, one email: the caller passes a request key that is the same
for a double click or a Streamlit rerun of the same form submission. It is the Stripe
idempotency key, the primary key of the link request and the outbox's unique key, so a
replay finds the first attempt's work instead of repeating it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from console import ops
from console.links import delivery, mail, portal
from console.links.context import (
    DELETED_CUSTOMER,
    LinkContext,
    LinkError,
    PriceChoice,
    SubscriptionChoice,
    link_context,
)
from console.links.live_changes import Change, changes_since_sync
from console.links.live_customer import LiveUnavailable, fetch_live_customer
from console.ops import audit, link_requests, outbox
from console.rules.links import is_link_made
from console.staff.roles import StaffUser, can_create_links
from settings import Settings

DELIVERIES = ("copy", "email")


@dataclass(frozen=True)
class LinkRequest:
    customer_id: str
    flow: str
    delivery: str  # copy | email
    subscription_id: str | None = None
    price_id: str | None = None
    confirmed: str | None = None  # the fingerprint of the live state whose differences the agent confirmed


class NeedsConfirmation(LinkError):
    """Stripe differs from what the agent saw: nothing was made; confirm `changes`, then retry
    the request with `confirmed=fingerprint`."""

    def __init__(self, changes: tuple[Change, ...], fingerprint: str) -> None:
        self.changes, self.fingerprint = changes, fingerprint
        listed = " ".join(change.text for change in changes)
        super().__init__(f"Stripe changed since the last sync: {listed} Confirm to go on with Stripe's data.")


@dataclass(frozen=True)
class LinkResult:
    outcome: str  # created | emailed | written | queued | uncertain
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


class _Request:
    """One agent request on its way: its audit rows all carry the same details."""

    def __init__(self, settings: Settings, staff: StaffUser, request: LinkRequest, key: str) -> None:
        self.settings, self.staff, self.request, self.key = settings, staff, request, key
        self.store = ops.store_for(settings.ops_db)

    def entry(self, outcome: str, **more: str | None) -> audit.AuditEntry:
        r = self.request
        return audit.AuditEntry(
            agent=self.staff.username, role=self.staff.role, customer_id=r.customer_id, flow=r.flow,
            delivery=r.delivery, outcome=outcome, subscription_id=r.subscription_id, price_id=r.price_id,
            request_key=self.key, **more,
        )  # fmt: skip

    def refuse(self, outcome: str, message: str) -> LinkError:
        audit.record(self.store, self.entry(outcome, error=message))
        return LinkError(message)

    def record_made(self, outcome: str, session_id: str, error: str | None = None) -> None:
        """Audit a made link, unless an interrupted earlier run of the same request already did."""
        first = audit.first_for_request(self.store, self.key)
        if first is None or not is_link_made(first.outcome):
            audit.record(self.store, self.entry(outcome, stripe_session_id=session_id, error=error))


def create_link(settings: Settings, staff: StaffUser, request: LinkRequest, key: str) -> LinkResult:
    """Make the portal session and deliver it; LinkError (audited) when refused or failed."""
    run = _Request(settings, staff, request, key)
    if not can_create_links(staff.role):
        raise run.refuse("refused", f"Your role ({staff.role}) cannot create portal links.")
    if request.flow not in portal.FLOWS or request.delivery not in DELIVERIES:
        raise run.refuse("refused", f"Unknown portal flow or delivery ({request.flow}, {request.delivery}).")
    try:
        context = link_context(settings.billing_db, request.customer_id)
        if context.deleted:
            raise LinkError(DELETED_CUSTOMER)
        if request.delivery == "email" and (problem := context.recipient_problem()):
            raise LinkError(problem)
        subscription, price = _target(context, request)
    except LinkError as refused:
        raise run.refuse("refused", str(refused)) from None

    slot = link_requests.reserve(
        run.store, key, staff.username, request.customer_id, settings.portal_links_per_hour
    )
    if slot.refused:
        raise run.refuse(
            "refused",
            f"You have made {slot.made_in_window} portal links in the last hour, the limit "
            f"(PORTAL_LINKS_PER_HOUR={settings.portal_links_per_hour}). Try again later.",
        )
    already = outbox.find(run.store, key) if request.delivery == "email" else None
    if slot.replay and already is not None and slot.session_id:
        # A replay of an email request: its message exists, nothing more to send.
        result = _email_result(delivery.delivery_of(already), slot.session_id)
        run.record_made(result.outcome, slot.session_id, already.last_error)
        return result

    try:
        context, subscription, price = _recheck_live(run, context)
    except LinkError:
        link_requests.release(run.store, key)
        raise
    session = _create_session(run, context, subscription, price)
    if request.delivery == "copy":
        run.record_made("created", session.id)
        return LinkResult(
            outcome="created",
            message="Portal link made. It is shown once: copy it now.",
            session_id=session.id,
            url=session.url,
        )
    return _email_link(run, context, session, subscription, price)


def _recheck_live(
    run: _Request, context: LinkContext
) -> tuple[LinkContext, SubscriptionChoice | None, PriceChoice | None]:
    """The context as Stripe has it now, and the request's target checked against it.

    NeedsConfirmation (not audited: the request waits for the agent) when Stripe differs from
    the warehouse and the agent has not confirmed this very state; audited LinkError otherwise.
    """
    try:
        live = fetch_live_customer(run.settings, run.request.customer_id)
    except LiveUnavailable as cause:
        raise run.refuse(
            "failed", f"Could not re-check this customer in Stripe before the link: {cause} No link was made."
        ) from None
    if live.deleted:
        gone = "Stripe has no such customer" if live.missing else "This customer was deleted in Stripe"
        raise run.refuse("refused", f"{gone} since the last sync: no portal link can be made.")
    changes = changes_since_sync(context.synced, live)
    if changes and run.request.confirmed != live.fingerprint:
        raise NeedsConfirmation(changes, live.fingerprint)
    context = context.seen_live(live)
    try:
        if run.request.delivery == "email" and (problem := context.recipient_problem()):
            raise LinkError(problem)
        subscription, price = _target(context, run.request)
    except LinkError as refused:
        raise run.refuse("refused", str(refused)) from None
    return context, subscription, price


def _create_session(
    run: _Request, context: LinkContext, subscription: SubscriptionChoice | None, price: PriceChoice | None
) -> portal.PortalSession:
    params = portal.session_params(
        run.settings, run.request.customer_id, run.request.flow, locale=context.locale,
        subscription_id=subscription.id if subscription else None,
        item_id=subscription.item_id if subscription else None,
        price_id=price.id if price else None,
    )  # fmt: skip
    try:
        session = portal.create_session(run.settings, params, idempotency_key=run.key)
    except portal.PortalError as failure:
        link_requests.release(run.store, run.key)
        raise run.refuse("failed", str(failure)) from None
    link_requests.record_session(run.store, run.key, session.id)
    return session


def _email_link(
    run: _Request,
    context: LinkContext,
    session: portal.PortalSession,
    subscription: SubscriptionChoice | None,
    price: PriceChoice | None,
) -> LinkResult:
    to = mail.customer_address(context.name, context.email)
    try:
        message = mail.compose_portal_email(
            run.settings, to=to, flow=run.request.flow, url=session.url,
            target=f"your {subscription.plan} subscription" if subscription else None,
            price=price.label if price else None, invoice=context.dunning_invoice,
        )  # fmt: skip
    except mail.MailError as problem:
        raise run.refuse("failed", str(problem)) from None
    outbox_id = outbox.record(
        run.store, request_key=run.key, customer_id=run.request.customer_id,
        sender=mail.sender_address(run.settings).addr_spec, recipient=to.addr_spec,
        subject=str(message["Subject"]), message=message.as_bytes(),
    )  # fmt: skip
    result = _email_result(delivery.deliver(run.settings, outbox_id), session.id)
    run.record_made(result.outcome, session.id, result.error)
    return result


def _email_result(sent: delivery.Delivery, session_id: str) -> LinkResult:
    if sent.status == "sent":
        outcome, text = "emailed", f"Portal link emailed to {sent.recipient}."
    elif sent.status == "written":
        outcome, text = "written", f"Portal link for {sent.recipient} written to the outbox folder (no SMTP)."
    elif sent.doubtful:
        outcome = "uncertain"
        text = (
            f"Portal link made. The email to {sent.recipient} may or may not have been delivered: "
            f"{sent.error} An admin decides on the Outbox page; do not make another link yet."
        )
    else:
        outcome = "queued"
        text = (
            f"Portal link made, but the email to {sent.recipient} has not been sent yet"
            f"{': ' + sent.error if sent.error else ''}. It waits in the outbox; an admin can "
            "retry it from the Outbox page."
        )
    return LinkResult(
        outcome=outcome, message=text, session_id=session_id, recipient=sent.recipient, error=sent.error
    )


def retry_email(
    settings: Settings, staff: StaffUser, outbox_id: int, accept_duplicate: bool = False
) -> delivery.Delivery:
    """Send a queued message again (the outbox page's retry); audited. LinkError if not allowed.

    A message that may have gone out already (uncertain, or left `sending`) is sent again only
    with `accept_duplicate`: the customer may then receive it twice.
    """
    if not can_create_links(staff.role):
        raise LinkError(f"Your role ({staff.role}) cannot send portal links.")
    store = ops.store_for(settings.ops_db)
    if delivery.delivery_of(outbox.get(store, outbox_id)).doubtful:
        if not accept_duplicate:
            raise LinkError(
                f"Message {outbox_id} may already have been delivered: sending it again may send the "
                "customer a duplicate. Confirm that you accept this first."
            )
        outbox.requeue_doubtful(store, outbox_id)
    sent = delivery.deliver(settings, outbox_id)
    if not sent.attempted:
        raise LinkError(f"Message {outbox_id} is not waiting to be sent (it is {sent.status}).")
    first = audit.first_for_request(store, sent.request_key)
    audit.record(
        store,
        audit.AuditEntry(
            agent=staff.username, role=staff.role, customer_id=sent.customer_id,
            flow=first.flow if first else "portal", delivery="email",
            outcome="retry_sent" if sent.delivered else "retry_failed",
            subscription_id=first.subscription_id if first else None,
            price_id=first.price_id if first else None,
            stripe_session_id=first.stripe_session_id if first else None,
            error=sent.error, request_key=sent.request_key,
        ),
    )  # fmt: skip
    return sent
