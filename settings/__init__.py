"""Every setting of the console and the sync, in one place.

A setting is read from the environment first, then from `.streamlit/secrets.toml`
(same upper-case name, top level). A malformed value stops the program at start
with a message naming the setting and how to set it; a secret's value is never
part of any message or repr.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = ROOT / ".streamlit" / "secrets.toml"


class SettingsError(Exception):
    """A setting is missing or malformed. The message names it and says how to fix it."""

    def __init__(self, name: str, problem: str, how: str = "") -> None:
        self.name = name
        how = how or (
            f"set the environment variable {name} or add `{name} = ...` to "
            f".streamlit/secrets.toml (see .streamlit/secrets.toml.example)"
        )
        super().__init__(f"Setting {name} {problem}: {how}.")


def _text(name: str, raw: Any) -> str:
    return str(raw).strip()


def _int(minimum: int) -> Callable[[str, Any], int]:
    def parse(name: str, raw: Any) -> int:
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise SettingsError(name, "is not a whole number") from None
        if value < minimum:
            raise SettingsError(name, f"must be at least {minimum}")
        return value

    return parse


def _bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(name, "is not true or false")


def _path(name: str, raw: Any) -> Path:
    path = Path(str(raw).strip()).expanduser()
    return path if path.is_absolute() else ROOT / path


_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
POSTGRESQL_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class PostgresUrl:
    """A `postgresql://` URL (the ops store on PostgreSQL). The password, when the URL holds
    one, is in no str, repr or message: only `secret_url()` gives the whole URL, to the driver."""

    _url: str = field(repr=False)

    def secret_url(self) -> str:
        return self._url

    @property
    def password(self) -> str | None:
        """The password the URL holds (in its user part or as `?password=`), to scrub messages."""
        parts = urlsplit(self._url)
        given = dict(parse_qsl(parts.query)).get("password")
        return given or (unquote(parts.password) if parts.password else None)

    @property
    def redacted(self) -> str:
        """The URL with any password replaced by `***`, safe to show."""
        parts = urlsplit(self._url)
        netloc = parts.netloc
        if parts.password is not None:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.partition(':')[0]}:***@{host}"
        query = "&".join(
            f"{key}=***" if key == "password" else f"{key}={value}" for key, value in parse_qsl(parts.query)
        )
        return parts._replace(netloc=netloc, query=query).geturl()

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"PostgresUrl({self.redacted!r})"


def ops_location(raw: Any, name: str = "OPS_DB") -> Path | PostgresUrl:
    """An ops store: a file path (SQLite, the default) or a postgresql:// URL. Never quotes the
    value in an error: a URL may hold a password."""
    text = str(raw).strip()
    scheme = _URL_SCHEME.match(text)
    if scheme is None:
        return _path(name, text)
    how = "use a file path for SQLite or postgresql://USER@HOST:PORT/DATABASE for PostgreSQL"
    if text.split("://", 1)[0].lower() not in POSTGRESQL_SCHEMES:
        raise SettingsError(name, "is neither a file path nor a postgresql:// URL", how)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise SettingsError(name, "is not a well-formed postgresql:// URL", how) from None
    if not parts.path.strip("/"):
        raise SettingsError(name, "names no database (postgresql://USER@HOST/DATABASE)", how)
    return PostgresUrl(text)


def _choice(*allowed: str) -> Callable[[str, Any], str]:
    def parse(name: str, raw: Any) -> str:
        value = str(raw).strip().lower()
        if value not in allowed:
            raise SettingsError(name, f"must be one of {', '.join(allowed)}")
        return value

    return parse


def _api_base(name: str, raw: Any) -> str:
    value = str(raw).strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise SettingsError(name, "must be a URL starting with http:// or https://")
    return value


def _setting(default: Any = None, parse: Callable[[str, Any], Any] = _text, secret: bool = False) -> Any:
    return field(default=default, metadata={"parse": parse, "secret": secret})


@dataclass(frozen=True)
class Settings:
    # Storage
    billing_db: Path = _setting(ROOT / "data" / "billing.duckdb", _path)
    # A SQLite file, or a postgresql:// URL (several hosts): console/ops/store.py.
    ops_db: Path | PostgresUrl = _setting(
        ROOT / "data" / "ops.sqlite3", lambda name, raw: ops_location(raw, name)
    )
    users_file: Path = _setting(ROOT / "data" / "users.yaml", _path)
    # Staff login
    cookie_key: str | None = _setting(secret=True)
    cookie_name: str = _setting("billing_console_auth")
    cookie_expiry_hours: int = _setting(10, _int(1))
    login_max_failures: int = _setting(5, _int(1))
    login_window_minutes: int = _setting(15, _int(1))
    login_lockout_minutes: int = _setting(15, _int(1))
    # Stripe
    stripe_api_key: str | None = _setting(secret=True)
    stripe_sync_api_key: str | None = _setting(secret=True)
    stripe_portal_api_key: str | None = _setting(secret=True)
    stripe_api_base: str | None = _setting(None, _api_base)
    stripe_webhook_secret: str | None = _setting(secret=True)  # whsec_...: `python -m sync --listen`
    # The bearer token between the snapshot server (sync host) and the pullers (console hosts).
    snapshot_token: str | None = _setting(secret=True)
    # Portal links
    portal_return_url: str = _setting("https://example.com/account")
    portal_configuration: str | None = _setting()
    portal_after_expiration: bool = _setting(True, _bool)
    portal_retention_coupon: str | None = _setting()
    portal_links_per_hour: int = _setting(30, _int(1))
    # Mail
    smtp_host: str | None = _setting()
    smtp_port: int = _setting(587, _int(1))
    smtp_security: str = _setting("starttls", _choice("starttls", "tls", "none"))
    smtp_user: str | None = _setting()
    smtp_password: str | None = _setting(secret=True)
    smtp_ca_file: Path | None = _setting(None, _path)
    mail_from: str = _setting("billing@example.com")
    company_name: str = _setting("Example SaaS")
    outbox_dir: Path = _setting(ROOT / "data" / "outbox", _path)
    # Freshness
    freshness_warn_minutes: int = _setting(60, _int(1))
    # The customer page looks at Stripe by itself when the last sync is older than this.
    live_refresh_after_minutes: int = _setting(5, _int(1))

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata["secret"] and value:
                value = "<set>"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @property
    def sync_api_key(self) -> str | None:
        return self.stripe_sync_api_key or self.stripe_api_key

    @property
    def portal_api_key(self) -> str | None:
        return self.stripe_portal_api_key or self.stripe_api_key

    def required(self, name: str) -> Any:
        """The value of setting `name` (field name), or SettingsError when unset."""
        value = getattr(self, name)
        if value in (None, ""):
            raise SettingsError(name.upper(), "is not set")
        return value


def read_secrets_file(path: Path | None = None) -> dict[str, Any]:
    """The secrets file: CONSOLE_SECRETS_FILE if set (tests point it elsewhere), else the default."""
    path = path or Path(os.environ.get("CONSOLE_SECRETS_FILE") or SECRETS_FILE)
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        # The parser's message may quote the offending line, which can hold a secret.
        raise SettingsError(
            "secrets.toml", f"is not valid TOML (line {getattr(exc, 'lineno', '?')})", f"fix {path}"
        ) from None


def load_settings(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> Settings:
    """Settings from `env` (default os.environ) over `secrets` (default secrets.toml)."""
    env = os.environ if env is None else env
    secrets = read_secrets_file() if secrets is None else secrets
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = f.name.upper()
        raw = env.get(name)
        if raw is None or raw == "":
            raw = secrets.get(name)
        if raw is None or raw == "":
            continue
        values[f.name] = f.metadata["parse"](name, raw)
    return Settings(**values)
