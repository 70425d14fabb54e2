"""One customer as Stripe has them right now: the console's live look, its only Stripe reads.

The warehouse lags Stripe by up to one sync. Before an agent acts for a customer, and when
they ask for it on the customer page, the console reads that one customer live, with its
own key (STRIPE_PORTAL_API_KEY, else STRIPE_API_KEY), in at most four requests:

1. the customer, with their default payment method expanded;
2. their subscriptions (`status=all`: a cancellation since the sync must show);
3. their open invoices (all of them: any may be in dunning);
4. their ten newest invoices (to say what became of an invoice that is no longer open).

Live facts are a snapshot for one screen or one action: nothing here is written to the
warehouse, which only the sync writes.

**In dunning, live.** docs/METRICS.md's rule needs failed attempts, which the warehouse
counts from charges. The console's key may not read charges, and an invoice tells enough:
an `open` invoice that was `attempted` with `attempt_count > 0` has had that many attempts
fail, since a successful one would have paid it (Stripe's current API has no `paid` field:
`status` says it). One case reads wrong: an async payment (SEPA debit) still processing
leaves the invoice open with an attempt that has not failed yet; it shows as in dunning
until the payment settles.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe

from console.display.money import format_money
from console.links import mail
from console.rules.dunning import is_in_dunning
from settings import Settings

RECENT_INVOICES = 10
# A page waits for this at most per request; a down Stripe must not hold the agent's screen.
TIMEOUT_SECONDS = 10
ENDED_SUBSCRIPTIONS = frozenset({"canceled", "incomplete_expired"})


class LiveUnavailable(Exception):
    """Stripe could not be read. The message is one line for the agent: the cause, no key, no URL."""


@dataclass(frozen=True)
class LivePaymentMethod:
    id: str
    type: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None

    @property
    def label(self) -> str:
        """'visa •••• 4242, expires 04/2027', or the method's type when it is not a card."""
        if self.last4 is None:
            return self.type
        expiry = f", expires {self.exp_month:02d}/{self.exp_year}" if self.exp_month and self.exp_year else ""
        return f"{self.brand or self.type} •••• {self.last4}{expiry}"


@dataclass(frozen=True)
class LiveSubscription:
    id: str
    status: str
    cancel_at_period_end: bool
    current_period_end: datetime | None

    @property
    def ended(self) -> bool:
        return self.status in ENDED_SUBSCRIPTIONS


@dataclass(frozen=True)
class LiveInvoice:
    id: str
    number: str | None
    status: str | None
    collection_method: str | None
    attempted: bool
    attempt_count: int
    amount_due: int
    amount_remaining: int
    currency: str | None
    hosted_invoice_url: str | None
    created: datetime | None
    next_payment_attempt: datetime | None

    @property
    def failed_attempts(self) -> int:
        """Attempts that failed: every attempt of an invoice still open (see the module's note)."""
        return self.attempt_count if self.status == "open" and self.attempted else 0

    @property
    def in_dunning(self) -> bool:
        return is_in_dunning(self.status, self.collection_method, self.failed_attempts)

    @property
    def amount_text(self) -> str:
        return format_money(self.amount_remaining, self.currency)


@dataclass(frozen=True)
class LiveCustomer:
    id: str
    fetched_at: datetime  # aware UTC
    deleted: bool  # deleted in Stripe, or unknown to it (`missing`)
    missing: bool
    email: str | None
    name: str | None
    delinquent: bool
    preferred_locales: tuple[str, ...]
    default_payment_method: LivePaymentMethod | None
    subscriptions: tuple[LiveSubscription, ...]
    open_invoices: tuple[LiveInvoice, ...]  # newest first
    recent_invoices: tuple[LiveInvoice, ...]  # newest first

    @property
    def dunning_invoice(self) -> LiveInvoice | None:
        """The newest open invoice in dunning with a hosted payment page (what the email carries)."""
        return next((i for i in self.open_invoices if i.in_dunning and i.hosted_invoice_url), None)

    @property
    def in_dunning(self) -> bool:
        return any(i.in_dunning for i in self.open_invoices)

    def dunning_mail_invoice(self) -> mail.DunningInvoice | None:
        invoice = self.dunning_invoice
        if invoice is None:
            return None
        return mail.DunningInvoice(
            number=invoice.number, amount=invoice.amount_text, url=invoice.hosted_invoice_url
        )

    def subscription(self, subscription_id: str) -> LiveSubscription | None:
        return next((s for s in self.subscriptions if s.id == subscription_id), None)

    @property
    def fingerprint(self) -> str:
        """A digest of what an action for this customer relies on: who receives it, what is unpaid,
        which subscriptions run. An agent confirms the differences of one fingerprint; if Stripe
        moves on before the link is made, the fingerprint differs and they confirm again."""
        facts = {
            "deleted": self.deleted,
            "email": self.email,
            "name": self.name,
            "open": sorted((i.id, i.status, i.failed_attempts) for i in self.open_invoices),
            "subscriptions": sorted((s.id, s.status, s.cancel_at_period_end) for s in self.subscriptions),
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]


def _when(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _payment_method(raw: Any) -> LivePaymentMethod | None:
    if not isinstance(raw, dict):  # not set, or an id the expansion did not resolve
        return None
    card = raw.get("card") or {}
    return LivePaymentMethod(
        id=raw["id"], type=raw.get("type") or "unknown", brand=card.get("brand"), last4=card.get("last4"),
        exp_month=card.get("exp_month"), exp_year=card.get("exp_year"),
    )  # fmt: skip


def _subscription(raw: dict[str, Any]) -> LiveSubscription:
    items = (raw.get("items") or {}).get("data") or []
    ends = [item.get("current_period_end") for item in items if item.get("current_period_end")]
    return LiveSubscription(
        id=raw["id"], status=raw.get("status") or "unknown",
        cancel_at_period_end=bool(raw.get("cancel_at_period_end")),
        current_period_end=_when(max(ends)) if ends else None,
    )  # fmt: skip


def _invoice(raw: dict[str, Any]) -> LiveInvoice:
    return LiveInvoice(
        id=raw["id"], number=raw.get("number"), status=raw.get("status"),
        collection_method=raw.get("collection_method"), attempted=bool(raw.get("attempted")),
        attempt_count=int(raw.get("attempt_count") or 0), amount_due=int(raw.get("amount_due") or 0),
        amount_remaining=int(raw.get("amount_remaining") or 0), currency=raw.get("currency"),
        hosted_invoice_url=raw.get("hosted_invoice_url"), created=_when(raw.get("created")),
        next_payment_attempt=_when(raw.get("next_payment_attempt")),
    )  # fmt: skip


def _client(settings: Settings) -> stripe.StripeClient:
    api_key = settings.portal_api_key
    if not api_key:
        raise LiveUnavailable("No Stripe key for the console: set STRIPE_PORTAL_API_KEY (or STRIPE_API_KEY).")
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        max_network_retries=1,
        http_client=stripe.new_default_http_client(timeout=TIMEOUT_SECONDS),
    )


def _cause(error: stripe.StripeError) -> str:
    """One line naming why Stripe gave no answer; never Stripe's text itself (it quotes the key)."""
    if isinstance(error, stripe.APIConnectionError):
        return "Stripe could not be reached (network failure or timeout)."
    if isinstance(error, stripe.RateLimitError):
        return "Stripe is rate limiting the console's requests (429); try again in a minute."
    if isinstance(error, stripe.AuthenticationError):
        return "Stripe refused the console's key: check STRIPE_PORTAL_API_KEY (or STRIPE_API_KEY)."
    if isinstance(error, stripe.PermissionError):
        needed = re.search(r"'(rak_[a-z_]+)'", str(getattr(error, "_message", "") or ""))
        which = f" ({needed.group(1)})" if needed else ""
        return (
            f"The console's Stripe key lacks a permission{which}: give it Read on Customers, "
            "Subscriptions, Invoices and PaymentMethods."
        )
    status = getattr(error, "http_status", None)
    return f"Stripe answered with an error{f' (HTTP {status})' if status else ''}; try again later."


def fetch_live_customer(settings: Settings, customer_id: str) -> LiveCustomer:
    """The customer as Stripe has them now; LiveUnavailable with the cause when Stripe cannot say."""
    client = _client(settings)
    fetched_at = datetime.now(UTC)
    try:
        try:
            customer = client.v1.customers.retrieve(
                customer_id, {"expand": ["invoice_settings.default_payment_method"]}
            ).to_dict()
        except stripe.InvalidRequestError as error:
            if getattr(error, "http_status", None) != 404:
                raise
            return _gone(customer_id, fetched_at, missing=True)
        if customer.get("deleted"):
            return _gone(customer_id, fetched_at, missing=False)
        subscriptions = client.v1.subscriptions.list({"customer": customer_id, "status": "all", "limit": 100})
        open_invoices = client.v1.invoices.list({"customer": customer_id, "status": "open", "limit": 100})
        newest = client.v1.invoices.list({"customer": customer_id, "limit": RECENT_INVOICES})
    except stripe.StripeError as error:
        raise LiveUnavailable(_cause(error)) from None
    return LiveCustomer(
        id=customer_id,
        fetched_at=fetched_at,
        deleted=False,
        missing=False,
        email=customer.get("email"),
        name=customer.get("name"),
        delinquent=bool(customer.get("delinquent")),
        preferred_locales=tuple(customer.get("preferred_locales") or ()),
        default_payment_method=_payment_method(
            (customer.get("invoice_settings") or {}).get("default_payment_method")
        ),
        subscriptions=tuple(_subscription(s.to_dict()) for s in subscriptions.data),
        open_invoices=tuple(_invoice(i.to_dict()) for i in open_invoices.data),
        recent_invoices=tuple(_invoice(i.to_dict()) for i in newest.data),
    )


def _gone(customer_id: str, fetched_at: datetime, *, missing: bool) -> LiveCustomer:
    return LiveCustomer(
        id=customer_id, fetched_at=fetched_at, deleted=True, missing=missing, email=None, name=None,
        delinquent=False, preferred_locales=(), default_payment_method=None, subscriptions=(),
        open_invoices=(), recent_invoices=(),
    )  # fmt: skip
