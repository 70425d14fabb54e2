"""Who may open which page and do what: the console's roles, in one table.

The navigation lists only the pages a role may open, and every page checks the
role again itself (console/ui/frame.py), so a page reached by URL without the right
shows a refusal and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from settings import ROOT

ROLES = ("support", "finance", "admin")
PAGES_DIR = ROOT / "pages"


@dataclass(frozen=True)
class StaffUser:
    username: str
    name: str
    role: str


@dataclass(frozen=True)
class PageSpec:
    key: str
    title: str
    icon: str
    roles: tuple[str, ...]
    hidden: bool = False  # reached by a link (e.g. a customer row), not listed in the navigation

    @property
    def path(self) -> Path:
        return PAGES_DIR / f"{self.key}.py"


PAGES: tuple[PageSpec, ...] = (
    PageSpec("home", "Home", ":material/home:", ROLES),
    PageSpec("customers", "Customers", ":material/group:", ("support", "finance", "admin")),
    PageSpec("customer", "Customer", ":material/person:", ("support", "finance", "admin"), hidden=True),
    PageSpec("dunning_queue", "Dunning queue", ":material/priority_high:", ("support", "admin")),
    PageSpec("invoices", "Invoices", ":material/receipt_long:", ("finance", "admin")),
    PageSpec("dunning", "Dunning outcomes", ":material/monitoring:", ("finance", "admin")),
    PageSpec("churn", "Churn", ":material/trending_down:", ("finance", "admin")),
    PageSpec("sync_status", "Sync status", ":material/sync:", ("admin",)),
    PageSpec("audit", "Audit log", ":material/policy:", ("admin",)),
    PageSpec("outbox", "Outbox", ":material/outgoing_mail:", ("admin",)),
    PageSpec("sign_ins", "Sign-ins", ":material/lock_person:", ("admin",)),
)
PAGES_BY_KEY = {page.key: page for page in PAGES}

# Rights that are not "open a page".
LINK_CREATORS = ("support", "admin")


def pages_for(role: str) -> list[PageSpec]:
    return [page for page in PAGES if role in page.roles]


def can_open(role: str | None, page_key: str) -> bool:
    return role is not None and role in PAGES_BY_KEY[page_key].roles


def can_create_links(role: str | None) -> bool:
    return role in LINK_CREATORS
