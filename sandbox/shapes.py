"""Stripe objects in the current API shape (2026-10-28.endive), built as plain dicts.

Every builder returns every top-level key of Stripe's own example object for that type
(shared/reference/stripe-openapi-fixtures3.json); nested parts we do not simulate are
null or empty, as they are on a plain card-billing account.
"""

from __future__ import annotations

import random
from typing import Any

API_VERSION = "2026-10-28.endive"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "xof", "xaf", "ugx", "pyg", "rwf", "kmf", "gnf"})

# Stripe's decline codes and the text it shows the merchant for them.
DECLINES: dict[str, tuple[str, str]] = {
    "insufficient_funds": ("card_declined", "Your card has insufficient funds."),
    "generic_decline": ("card_declined", "Your card was declined."),
    "do_not_honor": ("card_declined", "Your card was declined."),
    "expired_card": ("expired_card", "Your card has expired."),
    "card_velocity_exceeded": ("card_declined", "Your card has exceeded its velocity limit."),
}


def random_id(rng: random.Random, prefix: str, length: int = 14) -> str:
    return prefix + "".join(rng.choices(ALPHABET, k=length))


def base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def event_id(rng: random.Random, sequence: int) -> str:
    # The sequence leads so that two events of the same second sort in the order they
    # happened (lists break created ties by id).
    return "evt_1" + base62(sequence, 8) + "".join(rng.choices(ALPHABET, k=15))


def _address() -> dict[str, Any]:
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


def customer(
    cid: str,
    created: int,
    name: str,
    email: str,
    currency: str | None,
    locales: list[str],
    invoice_prefix: str,
    country: str,
) -> dict[str, Any]:
    address = _address()
    address["country"] = country
    return {
        "id": cid,
        "object": "customer",
        "address": address,
        "balance": 0,
        "created": created,
        "currency": currency,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": email,
        "invoice_prefix": invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": locales,
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
        "customer_account": None,
    }


def deleted_customer(cid: str) -> dict[str, Any]:
    return {"id": cid, "object": "customer", "deleted": True}


def product(pid: str, created: int, name: str, description: str, default_price: str | None) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "product",
        "active": True,
        "created": created,
        "default_price": default_price,
        "description": description,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": created,
        "url": None,
    }


def price(
    pid: str,
    created: int,
    product_id: str,
    currency: str,
    unit_amount: int,
    interval: str,
    interval_count: int,
    nickname: str,
    lookup_key: str,
) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": {},
        "nickname": nickname,
        "product": product_id,
        "recurring": {
            "interval": interval,
            "interval_count": interval_count,
            "meter": None,
            "usage_type": "licensed",
            "trial_period_days": None,
        },
        "tax_behavior": "exclusive",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def plan_of(price_obj: dict[str, Any]) -> dict[str, Any]:
    """The legacy `plan` view Stripe still puts beside `price` on subscription items."""
    recurring = price_obj["recurring"]
    return {
        "id": price_obj["id"],
        "object": "plan",
        "active": price_obj["active"],
        "amount": price_obj["unit_amount"],
        "amount_decimal": price_obj["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price_obj["created"],
        "currency": price_obj["currency"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": False,
        "metadata": {},
        "meter": None,
        "nickname": price_obj["nickname"],
        "product": price_obj["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def subscription_item(
    si_id: str, created: int, sub_id: str, price_obj: dict[str, Any], quantity: int, start: int, end: int
) -> dict[str, Any]:
    return {
        "id": si_id,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": created,
        "current_period_end": end,
        "current_period_start": start,
        "discounts": [],
        "metadata": {},
        "plan": plan_of(price_obj),
        "price": price_obj,
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }


def subscription(
    sub_id: str, created: int, customer_id: str, currency: str, item: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": created,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": {},
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": "active",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def invoice(
    in_id: str,
    created: int,
    cust: dict[str, Any],
    sub_id: str | None,
    item: dict[str, Any] | None,
    currency: str,
    amount: int,
    billing_reason: str,
    period: tuple[int, int],
    invoice_period: tuple[int, int],
    description: str,
) -> dict[str, Any]:
    """`period` is the line's service period; `invoice_period` the invoice's own (for a
    renewal Stripe reports the period that just ended, for anything else a zero-length one)."""
    lines = []
    if item is not None:
        lines.append(
            {
                "id": "il_" + in_id[3:],
                "object": "line_item",
                "amount": amount,
                "currency": currency,
                "description": description,
                "discount_amounts": [],
                "discountable": True,
                "discounts": [],
                "invoice": in_id,
                "livemode": False,
                "metadata": {},
                "parent": {
                    "invoice_item_details": None,
                    "subscription_item_details": {
                        "invoice_item": None,
                        "proration": billing_reason == "subscription_update",
                        "proration_details": {"credited_items": None},
                        "subscription": sub_id,
                        "subscription_item": item["id"],
                    },
                    "type": "subscription_item_details",
                },
                "period": {"end": period[1], "start": period[0]},
                "pretax_credit_amounts": [],
                "pricing": {
                    "price_details": {"price": item["price"]["id"], "product": item["price"]["product"]},
                    "type": "price_details",
                    "unit_amount_decimal": item["price"]["unit_amount_decimal"],
                },
                "quantity": item["quantity"],
                "quantity_decimal": str(item["quantity"]),
                "subtotal": amount,
                "taxes": [],
            }
        )
    parent = None
    if sub_id is not None:
        parent = {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": sub_id},
            "type": "subscription_details",
        }
    return {
        "id": in_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Sandbox SaaS Inc.",
        "account_tax_ids": None,
        "amount_due": amount,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": amount,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": created + 3600,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": cust["id"],
        "customer_account": None,
        "customer_address": cust["address"],
        "customer_email": cust["email"],
        "customer_name": cust["name"],
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/invoices/{in_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": parent,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": invoice_period[1],
        "period_start": invoice_period[0],
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": None,
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "test_clock": None,
        "total": amount,
        "total_discount_amounts": [],
        "total_excluding_tax": amount,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": created,
    }


def payment_intent(
    pi_id: str,
    created: int,
    customer_id: str,
    currency: str,
    amount: int,
    description: str,
    rng: random.Random,
) -> dict[str, Any]:
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{pi_id}_secret_{random_id(rng, '', 25)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": "off_session",
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def payment_method(
    pm_id: str, created: int, pm_type: str, details: dict[str, Any], cust: dict[str, Any]
) -> dict[str, Any]:
    """A payment method as attached to `cust`; `details` is its `card` or `sepa_debit` hash."""
    billing_address = _address()
    billing_address["country"] = cust["address"]["country"]
    return {
        "id": pm_id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": billing_address,
            "email": cust["email"],
            "name": cust["name"],
            "phone": None,
            "tax_id": None,
        },
        pm_type: details,
        "created": created,
        "customer": cust["id"],
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": pm_type,
    }


def card(
    brand: str, last4: str, exp_month: int, exp_year: int, country: str, fingerprint: str, wallet: str | None
) -> dict[str, Any]:
    return {
        "brand": brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
        "country": country,
        "display_brand": brand,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": fingerprint,
        "funding": "debit" if brand == "visa" and fingerprint[0] < "8" else "credit",
        "generated_from": None,
        "last4": last4,
        "networks": {"available": [brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None if wallet is None else {"dynamic_last4": last4, "type": wallet, wallet: {}},
    }


def sepa_debit(bank_code: str, country: str, fingerprint: str, last4: str) -> dict[str, Any]:
    return {
        "bank_code": bank_code,
        "branch_code": "",
        "country": country,
        "fingerprint": fingerprint,
        "generated_from": {"charge": None, "setup_attempt": None},
        "last4": last4,
    }


def payment_method_details(pm: dict[str, Any], mandate: str) -> dict[str, Any]:
    """What a charge records of the method it used, as the method was at that moment."""
    if pm["type"] == "sepa_debit":
        details = {k: v for k, v in pm["sepa_debit"].items() if k != "generated_from"}
        return {"sepa_debit": {**details, "mandate": mandate}, "type": "sepa_debit"}
    used = pm["card"]
    return {
        "card": {
            "amount_authorized": None,
            "authorization_code": None,
            "brand": used["brand"],
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
            "country": used["country"],
            "exp_month": used["exp_month"],
            "exp_year": used["exp_year"],
            "extended_authorization": None,
            "fingerprint": used["fingerprint"],
            "funding": used["funding"],
            "incremental_authorization": None,
            "installments": None,
            "last4": used["last4"],
            "mandate": None,
            "multicapture": None,
            "network": used["brand"],
            "network_token": {"used": False},
            "network_transaction_id": None,
            "overcapture": None,
            "regulated_status": "unregulated",
            "three_d_secure": None,
            "wallet": used["wallet"],
        },
        "type": "card",
    }


def charge(
    ch_id: str,
    created: int,
    pi: dict[str, Any],
    cust: dict[str, Any],
    pm: dict[str, Any],
    decline_code: str | None,
    rng: random.Random,
) -> dict[str, Any]:
    succeeded = decline_code is None
    if succeeded:
        outcome = {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": rng.randint(5, 60),
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
        failure_code = failure_message = None
    else:
        failure_code, failure_message = DECLINES[decline_code]
        outcome = {
            "advice_code": "try_again_later" if decline_code == "insufficient_funds" else "do_not_try_again",
            "network_advice_code": None,
            "network_decline_code": "51" if decline_code == "insufficient_funds" else "05",
            "network_status": "declined_by_network",
            "reason": decline_code,
            "risk_level": "normal",
            "risk_score": rng.randint(5, 60),
            "seller_message": "The bank returned the decline code `" + decline_code + "`.",
            "type": "issuer_declined",
        }
    amount = pi["amount"]
    return {
        "id": ch_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if succeeded else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": random_id(rng, "txn_1", 23) if succeeded else None,
        "billing_details": {
            "address": _address(),
            "email": cust["email"],
            "name": cust["name"],
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "SANDBOX SAAS",
        "captured": succeeded,
        "created": created,
        "currency": pi["currency"],
        "customer": cust["id"],
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": failure_code,
        "failure_message": failure_message,
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": outcome,
        "paid": succeeded,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": payment_method_details(pm, "mandate_1" + ch_id[4:]),
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/charges/{ch_id}/refunds",
        },
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeded else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }


def invoice_payment(ip_id: str, created: int, inv: dict[str, Any], pi_id: str) -> dict[str, Any]:
    return {
        "id": ip_id,
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": inv["amount_due"],
        "created": created,
        "currency": inv["currency"],
        "invoice": inv["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": pi_id, "type": "payment_intent"},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }


def portal_session(
    bps_id: str,
    created: int,
    customer_id: str,
    configuration: str,
    flow: dict[str, Any] | None,
    locale: str | None,
    return_url: str | None,
    url: str,
    after_expiration: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "id": bps_id,
        "object": "billing_portal.session",
        "after_expiration": after_expiration,
        "configuration": configuration,
        "created": created,
        "customer": customer_id,
        "customer_account": None,
        "flow": flow,
        "livemode": False,
        "locale": locale,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": url,
    }


def portal_configuration(bpc_id: str, created: int) -> dict[str, Any]:
    return {
        "id": bpc_id,
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None},
        "created": created,
        "default_return_url": None,
        "features": {
            "customer_update": {"allowed_updates": ["email", "address"], "enabled": True},
            "invoice_history": {"enabled": True},
            "payment_method_update": {"enabled": True},
            "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
            "subscription_update": {"enabled": True, "proration_behavior": "create_prorations"},
        },
        "is_default": True,
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": created,
    }
