"""Payment methods as an agent reads them: "Visa •••• 4242, expires 03/27", and whether the
method that will be charged next still works.

The method a subscription's invoices charge is the subscription's own default when it has
one, else the customer's (`invoice_settings.default_payment_method`). A card is valid
through the last day of its expiry month, so it "expires before the renewal" when that
month ends before the subscription's current period does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pandas as pd

from console.display.text import EMPTY, printable, utc_text

_BRANDS = {
    "amex": "American Express",
    "cartes_bancaires": "Cartes Bancaires",
    "diners": "Diners Club",
    "discover": "Discover",
    "eftpos_au": "eftpos",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}
_TYPES = {
    "sepa_debit": "SEPA debit",
    "us_bank_account": "US bank account",
    "bacs_debit": "Bacs debit",
    "au_becs_debit": "BECS debit",
    "acss_debit": "Pre-authorized debit",
    "link": "Link",
    "paypal": "PayPal",
}
_WALLETS = {
    "apple_pay": "Apple Pay",
    "google_pay": "Google Pay",
    "samsung_pay": "Samsung Pay",
    "link": "Link",
    "masterpass": "Masterpass",
    "visa_checkout": "Visa Checkout",
    "amex_express_checkout": "Amex Express Checkout",
}
DOTS = "••••"


@dataclass(frozen=True)
class Card:
    """What the warehouse knows of a payment method (or of the card a charge used)."""

    type: str | None
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    wallet: str | None = None

    @property
    def expires_on(self) -> date | None:
        """The last day the card works (the end of its expiry month); None when unknown."""
        if not self.exp_month or not self.exp_year:
            return None
        month, year = int(self.exp_month), int(self.exp_year)
        first_of_next = date(year + month // 12, month % 12 + 1, 1)
        return date.fromordinal(first_of_next.toordinal() - 1)

    @property
    def label(self) -> str:
        """'Visa •••• 4242 (Apple Pay), expires 03/27', 'SEPA debit •••• 3000'; the dash when unknown."""
        if self.brand:
            kind = _BRANDS.get(self.brand, self.brand.replace("_", " ").title())
        elif self.type:
            kind = _TYPES.get(self.type, self.type.replace("_", " ").capitalize())
        else:
            kind = "Card" if self.last4 else ""
        text = " ".join(part for part in (kind, f"{DOTS} {self.last4}" if self.last4 else "") if part)
        if self.wallet:
            text += f" ({_WALLETS.get(self.wallet, self.wallet.replace('_', ' ').title())})"
        if self.exp_month and self.exp_year:
            text += f", expires {int(self.exp_month):02d}/{int(self.exp_year) % 100:02d}"
        return printable(text) or EMPTY

    def problem(self, now: datetime, renewal: datetime | None = None) -> str | None:
        """One of PROBLEMS ('expired', 'expires before the renewal'), or None."""
        expires_on = self.expires_on
        if expires_on is None:
            return None
        if expires_on < now.date():
            return "expired"
        if renewal is not None and expires_on < renewal.date():
            return "expires before the renewal"
        return None


def card_of(row: tuple) -> Card:
    """A Card from (type, brand, last4, exp_month, exp_year, wallet) columns."""
    return Card(*row)


PROBLEMS = ("expired", "expires before the renewal")
PANEL_COLUMNS = ["Charged for", "Payment method", "Set on", "Next renewal", "Check"]


def payment_panel(con: duckdb.DuckDBPyConnection, customer_id: str, now: datetime) -> pd.DataFrame:
    """The method each running subscription will charge, and the customer's own default.

    One row per subscription that has not ended (its default, else the customer's), then
    one for the customer's default. "Check" flags an expired card, or one that expires
    before the subscription renews (its current period's end).
    """
    rows = con.execute(
        """
        WITH me AS (SELECT id, default_payment_method_id FROM customers WHERE id = ?),
        subs AS MATERIALIZED (
            SELECT s.id, s.default_payment_method_id, s.created,
                   (SELECT max(i.current_period_end) FROM subscription_items i
                    WHERE i.subscription_id = s.id) AS renewal
            FROM subscriptions s WHERE s.customer_id = ? AND s.ended_at IS NULL
              AND s.status NOT IN ('canceled', 'incomplete_expired')
        ),
        wanted AS (
            SELECT 0 AS ord, s.created, s.id AS scope,
                   coalesce(s.default_payment_method_id, me.default_payment_method_id) AS pm_id,
                   s.default_payment_method_id IS NOT NULL AS own, s.renewal
            FROM subs s LEFT JOIN me ON true
            UNION ALL
            SELECT 1, NULL, NULL, default_payment_method_id, true, NULL FROM me
        )
        SELECT w.scope, w.own, w.renewal, w.pm_id, pm.type, pm.card_brand, pm.card_last4,
               pm.card_exp_month, pm.card_exp_year, pm.wallet, coalesce(pm.detached, false)
        FROM wanted w LEFT JOIN payment_methods pm ON pm.id = w.pm_id
        ORDER BY w.ord, w.created DESC, w.scope
        """,
        [customer_id, customer_id],
    ).fetchall()
    shown = []
    for scope, own, renewal, pm_id, *card_columns, detached in rows:
        card = card_of(tuple(card_columns))
        if pm_id is None:
            method, check = "none set", "no default payment method" if scope else EMPTY
        elif card_columns[0] is None:
            method, check = pm_id, "not in the warehouse yet"
        else:
            method = card.label
            check = "detached" if detached else (card.problem(now, renewal) or "ok")
        shown.append(
            (
                f"Subscription {scope}" if scope else "Customer default",
                method,
                ("the subscription" if own else "the customer") if scope else "the customer",
                utc_text(renewal) or EMPTY,
                check,
            )
        )
    return pd.DataFrame(shown, columns=PANEL_COLUMNS)


def queue_card_expiry(card: Card, now: datetime, renewal: datetime | None) -> str:
    """The dunning queue's card column: '03/27', '03/25 (expired)', '12/26 (before renewal)', or the dash."""
    if card.expires_on is None:
        return EMPTY
    text = f"{int(card.exp_month):02d}/{int(card.exp_year) % 100:02d}"
    problem = card.problem(now, renewal)
    return f"{text} ({_SHORT_PROBLEMS[problem]})" if problem else text


_SHORT_PROBLEMS = {"expired": "expired", "expires before the renewal": "before renewal"}
