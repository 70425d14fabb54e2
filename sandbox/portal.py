"""The customer portal: `POST /v1/billing_portal/sessions` validated as Stripe validates it,
and the small HTML pages its session URLs open (portal, expiry, email recovery)."""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sandbox import shapes
from sandbox.params import StripeError, as_int, invalid, missing
from sandbox.store import AccountReader

_LOCALE_LIST = (
    "auto bg cs da de el en en-AU en-CA en-GB en-IE en-IN en-NZ en-SG es es-419 et fi fil fr fr-CA hr hu "
    "id it ja ko lt lv ms mt nb nl pl pt pt-BR ro ru sk sl sv th tr vi zh zh-HK zh-TW"
)
LOCALES = frozenset(_LOCALE_LIST.split(" "))
FLOW_TYPES = (
    "customer_update",
    "payment_method_update",
    "subscription_cancel",
    "subscription_pause",
    "subscription_update",
    "subscription_update_confirm",
)
NOT_CONFIGURED = (
    "You can’t create a portal session in test mode until you save your customer portal settings in "
    "test mode at https://dashboard.stripe.com/test/settings/billing/portal."
)
ENDED = ("canceled", "incomplete_expired")
SESSION_FIELDS = {
    "after_expiration",
    "configuration",
    "customer",
    "customer_account",
    "expand",
    "flow_data",
    "locale",
    "on_behalf_of",
    "return_url",
}


@dataclass
class PortalSession:
    token: str
    session: dict[str, Any]
    customer_name: str
    customer_email: str
    expires_at: int
    recoverable_until: float | None  # None: no recovery; inf: no deadline


@dataclass
class Portal:
    """Sessions made by this server, and whether the account has saved its portal settings."""

    configuration_id: str
    ttl_seconds: int = 300
    configured: bool = True
    sessions: dict[str, PortalSession] = field(default_factory=dict)
    idempotent: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def configuration(self) -> dict[str, Any]:
        return shapes.portal_configuration(self.configuration_id, 1_700_000_000)

    def create(self, reader: AccountReader, params: dict[str, Any], base_url: str) -> dict[str, Any]:
        for name in params:
            if name not in SESSION_FIELDS:
                raise invalid(f"Received unknown parameter: {name}", name)
        customer_id = params.get("customer")
        if not customer_id:
            raise invalid("Missing required param: customer.", "customer", "parameter_missing")
        body = reader.get("customers", customer_id)
        if body is None or reader.is_deleted_customer(customer_id):
            raise missing("customer", customer_id, "customer")
        cust = json.loads(body)
        configuration = params.get("configuration")
        if configuration is not None and configuration != self.configuration_id:
            raise missing("configuration", configuration, "configuration")
        if not self.configured:
            raise invalid(NOT_CONFIGURED)
        return_url = params.get("return_url")
        if return_url is not None:
            check_url(return_url, "return_url")
        locale = params.get("locale")
        if locale is not None and locale not in LOCALES:
            raise invalid(
                f"Invalid locale: {locale}. Must be one of {', '.join(sorted(LOCALES))}.",
                "locale",
                "invalid_locale",
            )
        flow = None
        if "flow_data" in params:
            flow = self.flow(reader, params["flow_data"], customer_id)
        after_expiration, recoverable_until = parse_after_expiration(params.get("after_expiration"))
        now = int(time.time())
        token = secrets.token_urlsafe(24)
        session = shapes.portal_session(
            shapes.random_id(secrets.SystemRandom(), "bps_1", 23),
            now,
            customer_id,
            configuration or self.configuration_id,
            flow,
            None if locale in (None, "auto") else locale,
            return_url,
            f"{base_url}/p/session/{token}",
            after_expiration,
        )
        with self.lock:
            self.sessions[token] = PortalSession(
                token,
                session,
                cust.get("name") or "",
                cust.get("email") or "",
                now + self.ttl_seconds,
                recoverable_until,
            )
        return session

    def flow(self, reader: AccountReader, data: Any, customer_id: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise invalid("Invalid flow_data: must be an object.", "flow_data")
        kind = data.get("type")
        if not kind:
            raise invalid("Missing required param: flow_data[type].", "flow_data[type]", "parameter_missing")
        if kind not in FLOW_TYPES:
            raise invalid(
                f"Invalid flow_data[type]: must be one of {', '.join(FLOW_TYPES)}",
                "flow_data[type]",
                "parameter_invalid_string",
            )
        flow: dict[str, Any] = {
            "after_completion": after_completion(data.get("after_completion")),
            "customer_update": None,
            "subscription_cancel": None,
            "subscription_pause": None,
            "subscription_update": None,
            "subscription_update_confirm": None,
            "type": kind,
        }
        if kind in ("payment_method_update", "customer_update"):
            if kind == "customer_update":
                flow["customer_update"] = {"allowed_updates": ["email", "address"]}
            return flow
        section = data.get(kind)
        prefix = f"flow_data[{kind}]"
        if not isinstance(section, dict) or not section.get("subscription"):
            raise invalid(
                f"Missing required param: {prefix}[subscription].",
                f"{prefix}[subscription]",
                "parameter_missing",
            )
        sub_id = section["subscription"]
        sub_body = reader.get("subscriptions", sub_id)
        if sub_body is None:
            raise missing("subscription", sub_id, f"{prefix}[subscription]")
        sub = json.loads(sub_body)
        if sub["customer"] != customer_id:
            raise invalid(
                f"The subscription {sub_id} does not belong to the customer {customer_id}.",
                f"{prefix}[subscription]",
            )
        if sub["status"] in ENDED:
            raise invalid(
                f"The subscription {sub_id} is {sub['status']} and can no longer be updated or canceled.",
                f"{prefix}[subscription]",
            )
        if kind == "subscription_cancel":
            if sub["cancel_at_period_end"]:
                raise invalid(
                    f"The subscription {sub_id} is already set to be canceled at the end of its period.",
                    f"{prefix}[subscription]",
                )
            retention = section.get("retention")
            if retention is not None:
                coupon = (
                    (retention.get("coupon_offer") or {}).get("coupon")
                    if isinstance(retention, dict)
                    else None
                )
                raise missing("coupon", coupon or "", f"{prefix}[retention][coupon_offer][coupon]")
            flow[kind] = {"retention": None, "subscription": sub_id}
        elif kind == "subscription_update_confirm":
            flow[kind] = {
                "discounts": [],
                "items": confirm_items(reader, section, sub, prefix),
                "subscription": sub_id,
            }
        else:
            flow[kind] = {"subscription": sub_id}
        return flow

    def page(self, token: str) -> PortalSession | None:
        with self.lock:
            return self.sessions.get(token)

    def recover(self, token: str, email: str, reader: AccountReader, base_url: str) -> str | None:
        """A fresh session URL for an expired, recoverable session whose customer's email matches."""
        old = self.page(token)
        if old is None or old.recoverable_until is None or time.time() > old.recoverable_until:
            return None
        if email.strip().lower() != old.customer_email.lower():
            return None
        params: dict[str, Any] = {"customer": old.session["customer"]}
        if old.session["return_url"]:
            params["return_url"] = old.session["return_url"]
        return self.create(reader, params, base_url)["url"]


def check_url(value: Any, param: str) -> None:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("Not a valid URL", param, "url_invalid")


def after_completion(data: Any) -> dict[str, Any]:
    if data is None:
        return {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"}
    kind = data.get("type") if isinstance(data, dict) else None
    if kind not in ("hosted_confirmation", "portal_homepage", "redirect"):
        raise invalid(
            "Invalid flow_data[after_completion][type]: must be one of hosted_confirmation, "
            "portal_homepage, redirect",
            "flow_data[after_completion][type]",
        )
    redirect = None
    if kind == "redirect":
        url = (data.get("redirect") or {}).get("return_url")
        if not url:
            raise invalid(
                "Missing required param: flow_data[after_completion][redirect][return_url].",
                "flow_data[after_completion][redirect][return_url]",
                "parameter_missing",
            )
        check_url(url, "flow_data[after_completion][redirect][return_url]")
        redirect = {"return_url": url}
    confirmation = None
    if kind == "hosted_confirmation":
        confirmation = {"custom_message": (data.get("hosted_confirmation") or {}).get("custom_message")}
    return {"hosted_confirmation": confirmation, "redirect": redirect, "type": kind}


def confirm_items(
    reader: AccountReader, section: dict[str, Any], sub: dict[str, Any], prefix: str
) -> list[dict]:
    items = section.get("items")
    if not isinstance(items, list) or not items:
        raise invalid(f"Missing required param: {prefix}[items].", f"{prefix}[items]", "parameter_missing")
    if len(items) > 1:
        raise invalid("Only one item may be specified.", f"{prefix}[items]")
    item = items[0]
    own = {i["id"]: i for i in sub["items"]["data"]}
    if not isinstance(item, dict) or not item.get("id"):
        raise invalid(
            f"Missing required param: {prefix}[items][0][id].", f"{prefix}[items][0][id]", "parameter_missing"
        )
    if item["id"] not in own:
        raise invalid(
            f"The subscription item {item['id']} does not belong to the subscription {sub['id']}.",
            f"{prefix}[items][0][id]",
        )
    price_id = item.get("price")
    if price_id is not None:
        body = reader.get("prices", price_id)
        if body is None:
            raise missing("price", price_id, f"{prefix}[items][0][price]")
        price = json.loads(body)
        if not price["active"]:
            raise invalid(
                f"The price {price_id} is archived and cannot be used.", f"{prefix}[items][0][price]"
            )
        if price["currency"] != sub["currency"]:
            raise invalid(
                f"The price {price_id} is in {price['currency']} "
                f"but the subscription is in {sub['currency']}.",
                f"{prefix}[items][0][price]",
            )
    quantity = item.get("quantity")
    if quantity is not None:
        quantity = as_int(quantity, f"{prefix}[items][0][quantity]")
        if quantity < 1:
            raise invalid("This value must be greater than or equal to 1.", f"{prefix}[items][0][quantity]")
    return [{"id": item["id"], "price": price_id, "quantity": quantity}]


def parse_after_expiration(data: Any) -> tuple[dict[str, Any] | None, float | None]:
    if data is None:
        return None, None
    kind = data.get("type") if isinstance(data, dict) else None
    if kind != "customer_login":
        raise invalid(
            "Invalid after_expiration[type]: must be one of customer_login",
            "after_expiration[type]",
            "parameter_invalid_string",
        )
    login = data.get("customer_login") or {}
    expires_at = None
    if login.get("expires_at") is not None:
        expires_at = as_int(login["expires_at"], "after_expiration[customer_login][expires_at]")
        if expires_at <= time.time():
            raise invalid(
                "The expiry time must be in the future.", "after_expiration[customer_login][expires_at]"
            )
    return (
        {"customer_login": {"expires_at": expires_at}, "type": "customer_login"},
        float("inf") if expires_at is None else float(expires_at),
    )


FLOW_TITLES = {
    None: "Manage your billing",
    "payment_method_update": "Update your payment method",
    "customer_update": "Update your billing details",
    "subscription_cancel": "Cancel your subscription",
    "subscription_pause": "Pause your subscription",
    "subscription_update": "Change your plan",
    "subscription_update_confirm": "Confirm your plan change",
}


def _document(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><main>{body}</main></body></html>"
    ).encode()


def portal_page(ps: PortalSession) -> bytes:
    flow = ps.session["flow"]
    kind = flow["type"] if flow else None
    detail = ""
    if flow and flow.get(kind) and flow[kind].get("subscription"):
        detail = f"<p>Subscription <code>{html.escape(flow[kind]['subscription'])}</code></p>"
    back = ps.session["return_url"]
    link = f"<p><a href='{html.escape(back, quote=True)}'>Return</a></p>" if back else ""
    return _document(
        "Customer portal",
        f"<h1>{html.escape(FLOW_TITLES[kind])}</h1>"
        f"<p class='customer'>Signed in as <strong>{html.escape(ps.customer_name)}</strong></p>"
        f"<p class='flow' data-flow='{html.escape(kind or 'portal_homepage', quote=True)}'>Flow: "
        f"{html.escape(kind or 'portal_homepage')}</p>{detail}{link}",
    )


def expired_page(ps: PortalSession | None) -> bytes:
    if ps is not None and ps.recoverable_until is not None and time.time() <= ps.recoverable_until:
        return _document(
            "Session expired",
            "<h1>This link has expired</h1><p>Verify your email to continue.</p>"
            f"<form method='post' action='/p/session/{html.escape(ps.token, quote=True)}/recover'>"
            "<label>Email <input type='email' name='email' required></label>"
            "<button type='submit'>Send me a new link</button></form>",
        )
    return _document("Session expired", "<h1>This link has expired</h1><p>Ask for a new link.</p>")


def message_page(title: str, text: str) -> bytes:
    return _document(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>")


def invoice_page(inv: dict[str, Any]) -> bytes:
    amount = inv["amount_remaining"] if inv["status"] == "open" else inv["amount_due"]
    currency = inv["currency"]
    shown = f"{amount:,}" if currency in shapes.ZERO_DECIMAL else f"{amount / 100:,.2f}"
    pay = ""
    if inv["status"] == "open":
        pay = (
            f"<form method='post' action='/i/{html.escape(inv['id'], quote=True)}/pay'>"
            "<button type='submit'>Pay now</button></form>"
        )
    return _document(
        f"Invoice {inv['number'] or inv['id']}",
        f"<h1>Invoice {html.escape(inv['number'] or inv['id'])}</h1>"
        f"<p class='customer'>{html.escape(inv['customer_name'] or '')}</p>"
        f"<p class='amount'>{html.escape(currency.upper())} {shown}</p>"
        f"<p class='status' data-status='{html.escape(inv['status'], quote=True)}'>"
        f"Status: {html.escape(inv['status'])}</p>"
        f"{pay}",
    )


def is_expired(ps: PortalSession) -> bool:
    return time.time() > ps.expires_at


__all__ = ["Portal", "PortalSession", "StripeError"]
