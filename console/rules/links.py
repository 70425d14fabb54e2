"""When a portal link counts as made.

A link is **made** when Stripe created its session and it reached the agent or the
customer's mailbox path: shown to copy (`created`), emailed (`emailed`), written to the
demo's outbox folder (`written`), waiting in the outbox for a retry (`queued`), or handed
to a mail server whose answer was lost (`uncertain`). The
agent's hourly limit, the work queue's "link sent" column and the finance pages'
links all count these outcomes, and only these.
"""

from __future__ import annotations

LINK_MADE_OUTCOMES = ("created", "emailed", "written", "queued", "uncertain")
CARD_UPDATE_FLOW = "payment_method_update"


def is_link_made(outcome: str) -> bool:
    return outcome in LINK_MADE_OUTCOMES
