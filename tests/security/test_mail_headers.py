"""A customer's name can never add a recipient, whatever its length or punctuation."""

from __future__ import annotations

import email
import email.policy
from email.utils import getaddresses

import pytest

from console.links import mail
from settings import load_settings

HOSTILE_NAMES = [
    "Ann, attacker@evil.example, other@evil.example, and enough words to make the header fold " * 2,
    'Zoë "the boss" <admin@evil.example> Müller, Jr.; x@evil.example',
    "佐藤 陽菜, attacker@evil.example, " * 6,
    "(comment) [literal] back\\slash: group; list@evil.example",
    "Eve\r\nBcc: attacker@evil.example",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_to_header_names_exactly_the_customer(name: str) -> None:
    settings = load_settings(env={}, secrets={})
    to = mail.customer_address(name, "victim@example.com")
    message = mail.compose_portal_email(settings, to=to, flow="portal", url="https://billing.example/p/s")
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    addresses = getaddresses([str(parsed["To"])])
    assert [address for _, address in addresses] == ["victim@example.com"]
    assert "evil.example" not in str(parsed["To"])
    assert parsed["Bcc"] is None and parsed["Cc"] is None


def test_an_ordinary_name_is_kept() -> None:
    assert mail.display_name("  Hina   Sato ") == "Hina Sato"
    assert mail.customer_address("José Álvarez", "jose@example.com").display_name == "José Álvarez"
