"""Stripe billing portal sessions: the console's one Stripe call.

A session URL is a bearer credential: it leaves this module only in the
returned `PortalSession`, never in an exception, a log line or a repr. The
`stripe` package logs response bodies at debug level, so a filter on its logger
drops the body of portal session responses.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

import stripe

from settings import Settings

FLOWS: dict[str, str] = {
    "portal": "Customer portal (everything)",
    "payment_method_update": "Update payment method",
    "subscription_cancel": "Cancel a subscription",
    "subscription_update": "Change plan",
    "subscription_update_confirm": "Change plan to a chosen price",
    "customer_update": "Update billing details",
}
SUBSCRIPTION_FLOWS = frozenset({"subscription_cancel", "subscription_update", "subscription_update_confirm"})

# The portal's locales (stripe.params.billing_portal SessionCreateParams.locale).
PORTAL_LOCALES = (
    "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN", "en-NZ", "en-SG", "es",
    "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt",
    "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
)  # fmt: skip
_LOCALES_BY_LOWER = {code.lower(): code for code in PORTAL_LOCALES}


class PortalError(Exception):
    """Stripe made no session. The message is for the agent: what happened and what to do."""


@dataclass(frozen=True)
class PortalSession:
    id: str
    url: str = field(repr=False)
    flow: str
    locale: str | None


class _DropPortalSessionBodies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "billing_portal.session" not in str(record.msg)


logging.getLogger("stripe").addFilter(_DropPortalSessionBodies())


def portal_locale(preferred_locales: list[str] | None) -> str | None:
    """The first of the customer's preferred locales the portal supports ('fr-FR' falls back to 'fr')."""
    for tag in preferred_locales or []:
        lowered = str(tag).strip().replace("_", "-").lower()
        for candidate in (lowered, lowered.split("-")[0]):
            if candidate in _LOCALES_BY_LOWER:
                return _LOCALES_BY_LOWER[candidate]
    return None


def session_params(
    settings: Settings,
    customer_id: str,
    flow: str,
    *,
    locale: str | None = None,
    subscription_id: str | None = None,
    item_id: str | None = None,
    price_id: str | None = None,
) -> dict[str, Any]:
    """The `billing_portal.sessions.create` parameters for one flow (deep link)."""
    if flow not in FLOWS:
        raise ValueError(f"unknown portal flow {flow!r}")
    params: dict[str, Any] = {"customer": customer_id, "return_url": settings.portal_return_url}
    if settings.portal_configuration:
        params["configuration"] = settings.portal_configuration
    if locale:
        params["locale"] = locale
    if settings.portal_after_expiration:
        # An emailed link that expired lets the customer verify their email and continue.
        params["after_expiration"] = {"type": "customer_login"}
    if flow == "portal":
        return params
    flow_data: dict[str, Any] = {"type": flow}
    if flow == "subscription_cancel":
        flow_data[flow] = {"subscription": subscription_id}
        if settings.portal_retention_coupon:
            flow_data[flow]["retention"] = {
                "type": "coupon_offer",
                "coupon_offer": {"coupon": settings.portal_retention_coupon},
            }
    elif flow == "subscription_update":
        flow_data[flow] = {"subscription": subscription_id}
    elif flow == "subscription_update_confirm":
        flow_data[flow] = {"subscription": subscription_id, "items": [{"id": item_id, "price": price_id}]}
    params["flow_data"] = flow_data
    return params


def create_session(settings: Settings, params: dict[str, Any], idempotency_key: str) -> PortalSession:
    """Create the session; the same `idempotency_key` always yields the same session."""
    if "debug" in (stripe.log, os.environ.get("STRIPE_LOG")):
        # The stripe package would print response bodies, portal URLs included, to stderr.
        raise PortalError("STRIPE_LOG=debug would print portal links to the console's log: unset it.")
    api_key = settings.portal_api_key
    if not api_key:
        raise PortalError(
            "No Stripe key for portal links: set STRIPE_PORTAL_API_KEY (a restricted key with "
            "'Customer portal: write') or STRIPE_API_KEY."
        )
    client = stripe.StripeClient(
        api_key,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        max_network_retries=2,
    )
    try:
        session = client.v1.billing_portal.sessions.create(
            params,  # type: ignore[arg-type]
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as error:
        raise PortalError(explain(error, params, _mode(api_key))) from None
    flow = session.flow.type if session.flow else "portal"
    return PortalSession(id=session.id, url=session.url, flow=flow, locale=session.locale)


def _mode(api_key: str) -> str:
    return "live" if "_live_" in api_key else "test"


def _stripe_text(error: stripe.StripeError) -> str:
    """Stripe's own message, on one line, without any URL (it may quote the dashboard)."""
    text = " ".join(str(error.user_message or getattr(error, "_message", "") or "").split())
    return re.sub(r"https?://\S+", "(link removed)", text)


def explain(error: stripe.StripeError, params: dict[str, Any], mode: str) -> str:
    """A Stripe error as a message that says what happened and what to do."""
    if isinstance(error, stripe.APIConnectionError):
        return "Could not reach Stripe (network failure). No link was made; try again in a minute."
    if isinstance(error, stripe.AuthenticationError):
        return (
            "Stripe refused the console's API key. Check STRIPE_PORTAL_API_KEY (or STRIPE_API_KEY): "
            "it may be revoked, mistyped or for another account. No link was made."
        )
    if isinstance(error, stripe.PermissionError):
        return (
            "The console's Stripe key may not create portal sessions. Give the restricted key the "
            "'Customer portal: write' permission. No link was made."
        )
    if isinstance(error, stripe.IdempotencyError):
        return "Stripe saw this request before with other details. No link was made; start a new link."
    if isinstance(error, stripe.RateLimitError):
        return "Stripe is rate limiting requests right now. No link was made; try again in a minute."
    text = _stripe_text(error)
    lowered = text.lower()
    param = str(getattr(error, "param", None) or "")
    code = str(getattr(error, "code", None) or "")
    if "portal" in lowered and ("settings" in lowered or "configuration" in lowered) and "flow" not in param:
        switch = "" if mode == "live" else " with 'Test mode' switched on"
        return (
            f"The Stripe customer portal is not set up for this account in {mode} mode. In the Stripe "
            f"Dashboard{switch}, open Settings > Billing > Customer portal and save the settings (or set "
            "PORTAL_CONFIGURATION to a portal configuration id), then try again."
        )
    if (
        param == "customer"
        or "no such customer" in lowered
        or ("customer" in lowered and "deleted" in lowered)
    ):
        return f"Stripe has no such customer ({params.get('customer')}): it was deleted. No link was made."
    if param == "configuration":
        return f"Stripe has no such portal configuration: check PORTAL_CONFIGURATION. ({text})"
    flow = (params.get("flow_data") or {}).get("type", "")
    if "coupon" in param:
        return f"Stripe does not know the retention coupon: check PORTAL_RETENTION_COUPON. ({text})"
    if "price" in param or "no such price" in lowered:
        return f"Stripe does not know that price, or it cannot be used for this plan change: {text}"
    if code == "resource_missing" and param.endswith("[subscription]"):
        return f"Stripe has no such subscription: {text}"
    if flow == "subscription_cancel":
        return f"This subscription cannot be canceled through the portal: {text}"
    if flow in {"subscription_update", "subscription_update_confirm"}:
        return f"This subscription cannot be changed through the portal: {text}"
    return f"Stripe refused the portal link: {text}"
