"""Customer names, emails and locales that look like a real international customer base,
including the awkward ones a console must survive (accents, apostrophes, plus-addressing,
markup in a name, very long names)."""

from __future__ import annotations

import random
import unicodedata

FIRST = {
    "en": [
        "James",
        "Olivia",
        "Noah",
        "Emma",
        "Liam",
        "Ava",
        "Mason",
        "Sophia",
        "Ethan",
        "Mia",
        "Zoë",
        "Seán",
    ],
    "fr": ["Amélie", "François", "Hélène", "Jérôme", "Chloé", "Benoît", "Léa", "Anaïs", "Gaël", "Noémie"],
    "de": ["Jürgen", "Lena", "Maximilian", "Sönke", "Anja", "Björn", "Käthe", "Lukas", "Jörg", "Marie"],
    "es": ["José", "Lucía", "Martín", "Sofía", "Íñigo", "Begoña", "Raúl", "Nuria", "Ángel", "Inés"],
    "it": ["Giulia", "Niccolò", "Chiara", "Luca", "Francesca", "Matteo", "Federica", "Davide"],
    "nl": ["Sanne", "Daan", "Femke", "Joris", "Lieke", "Bram", "Eline", "Thijs"],
    "ja": ["Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Yuto", "Sakura"],
}
LAST = {
    "en": ["Smith", "O'Brien", "Johnson", "D'Angelo", "Williams", "O'Neill", "Brown", "McAllister", "Taylor"],
    "fr": ["Lefèvre", "Dupré", "Bérénger", "Moreau", "D'Arcy", "Lemaître", "Girard", "Chevalier"],
    "de": ["Müller", "Schröder", "Weiß", "Köhler", "Groß", "Bäcker", "Schmidt", "Hoffmann"],
    "es": ["García", "Muñoz", "Pérez", "Fernández", "Gómez", "Ibáñez", "Rodríguez", "Núñez"],
    "it": ["Rossi", "D'Amico", "Bianchi", "Esposito", "Ricci", "De Luca", "Colombo"],
    "nl": ["de Vries", "van den Berg", "Jansen", "Bakker", "van Dijk", "Visser"],
    "ja": ["Satō", "Suzuki", "Takahashi", "Tanaka", "Itō", "Watanabe", "Yamamoto", "Kobayashi"],
}
COMPANY = ["Labs", "GmbH", "S.A.", "Ltd", "& Co.", "Studio", "SARL", "B.V.", "K.K.", "Inc."]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "firma.example"]

# Names a console must render as text, never as markup or a link.
TRICKY_NAMES = [
    "<img src=x onerror=alert(1)>[click](https://example.org)",
    "Maximilian-Alexander Konstantin Wolfgang Friedrich Bartholomäus von und zu "
    "Hohenlohe-Langenburg-Schillingsfürst-Oettingen-Wallerstein-Sayn-Wittgenstein "
    "Aktiengesellschaft für internationale Softwaredienstleistungen und Beratung mbH & Co. KG",
    "<script>alert('x')</script>",
    "Robert'); DROP TABLE customers;--",
    '=HYPERLINK("https://example.org","invoice")',
    "Ünïcödé Ñame 漢字テスト 🚀",
]

# currency -> (locale weights, country)
MARKETS: dict[str, list[tuple[str, str, str]]] = {
    "usd": [("en", "en-US", "US"), ("es", "es-419", "US"), ("en", "en", "CA")],
    "eur": [
        ("fr", "fr", "FR"),
        ("de", "de", "DE"),
        ("es", "es", "ES"),
        ("it", "it", "IT"),
        ("nl", "nl", "NL"),
    ],
    "gbp": [("en", "en-GB", "GB")],
    "jpy": [("ja", "ja", "JP"), ("en", "en", "JP")],
}


def ascii_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in ".-")).lower()


def person(rng: random.Random, currency: str, index: int) -> tuple[str, str, list[str], str]:
    """(name, email, preferred_locales, country) for a customer billed in `currency`."""
    lang, locale, country = rng.choice(MARKETS[currency])
    first = rng.choice(FIRST[lang])
    last = rng.choice(LAST[lang])
    roll = rng.random()
    if index % 40 == 3:
        # A steady share of names a console must render as text, starting with the first 40.
        name = TRICKY_NAMES[(index // 40) % len(TRICKY_NAMES)]
    elif roll < 0.12:
        name = f"{last} {rng.choice(COMPANY)}"
    else:
        name = f"{first} {last}"
    # The index keeps emails unique, as a real customer base mostly is.
    local = f"{ascii_fold(first)}.{ascii_fold(last)}{index}"
    if rng.random() < 0.08:
        local += "+billing"
    elif rng.random() < 0.05:
        local += f"+{rng.choice(['stripe', 'saas', 'invoices'])}"
    email = f"{local}@{rng.choice(DOMAINS)}"
    locales = [] if rng.random() < 0.3 else [locale]
    return name, email, locales, country
