"""Staff accounts: the users file read by streamlit-authenticator.

The file is YAML in the library's credentials shape, with one role per user:

    credentials:
      usernames:
        alice:
          name: Alice Martin
          email: alice@example.com
          password: $2b$12$...   # bcrypt hash, never the password
          roles: [support]

Writes are atomic (temporary file, then rename) under a lock, so the console
never reads a half-written file.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from console.staff.roles import ROLES

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD_LENGTH = 10


class StaffError(Exception):
    """A staff-account operation was refused; the message says why."""


@dataclass(frozen=True)
class StaffAccount:
    username: str
    name: str
    email: str
    role: str


def read_credentials(path: Path) -> dict[str, Any]:
    """The users file as streamlit-authenticator's credentials dict (empty when absent).

    StaffError when the file cannot be read or is not a users file.
    """
    if path.is_dir():
        raise StaffError(f"USERS_FILE ({path}) is a folder: point it at a file")
    if not path.exists():
        return {"usernames": {}}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as problem:
        raise StaffError(f"the users file {path} cannot be read ({type(problem).__name__})") from None
    credentials = data.get("credentials") or {} if isinstance(data, dict) else None
    if not isinstance(credentials, dict) or not isinstance(credentials.get("usernames") or {}, dict):
        raise StaffError(f"the users file {path} is not a users file (see the README, Staff)")
    credentials.setdefault("usernames", {})
    return credentials


def list_accounts(path: Path) -> list[StaffAccount]:
    users = read_credentials(path)["usernames"]
    return [
        StaffAccount(username, entry.get("name", ""), entry.get("email", ""), role_of(entry))
        for username, entry in sorted(users.items())
    ]


def role_of(entry: dict[str, Any]) -> str:
    roles = entry.get("roles") or []
    return roles[0] if roles and roles[0] in ROLES else ""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise StaffError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


@contextmanager
def _editing(path: Path) -> Iterator[dict[str, Any]]:
    """Lock the users file, yield its users dict for changes, write it back atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        credentials = read_credentials(path)
        yield credentials["usernames"]
        text = yaml.safe_dump({"credentials": credentials}, sort_keys=True, allow_unicode=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-")
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def add_account(path: Path, username: str, name: str, email: str, role: str, password: str) -> None:
    if not USERNAME_PATTERN.match(username):
        raise StaffError("a username is 2-40 characters: lower-case letters, digits, '.', '_' or '-'")
    check_role(role)
    hashed = hash_password(password)
    with _editing(path) as users:
        if username in users:
            raise StaffError(f"user {username!r} already exists")
        users[username] = {"name": name or username, "email": email, "password": hashed, "roles": [role]}


def set_role(path: Path, username: str, role: str) -> None:
    check_role(role)
    with _editing(path) as users:
        _existing(users, username)["roles"] = [role]


def set_password(path: Path, username: str, password: str) -> None:
    hashed = hash_password(password)
    with _editing(path) as users:
        _existing(users, username)["password"] = hashed


def remove_account(path: Path, username: str) -> None:
    with _editing(path) as users:
        _existing(users, username)
        del users[username]


def _existing(users: dict[str, Any], username: str) -> dict[str, Any]:
    if username not in users:
        raise StaffError(f"no user {username!r}")
    return users[username]
