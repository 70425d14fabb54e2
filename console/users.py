"""Manage staff accounts: `python -m console.users add|list|set-role|set-password|remove|unlock`.

Passwords are read without echo from the terminal, or from standard input with
`--password-stdin` (for scripts). Changing a password or a role, and removing a
user, end that user's open sessions everywhere.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from console import ops
from console.ops import login_throttle, sessions
from console.ops.store import OpsStoreUnavailable, OpsStoreUnreachable
from console.staff import accounts
from console.staff.roles import ROLES
from settings import Settings, SettingsError, load_settings
from settings.command_line import OneLineParser


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n").strip()
    if not sys.stdin.isatty():
        raise accounts.StaffError("no terminal to type the password at: pipe it in with --password-stdin")
    first = getpass.getpass("Password: ").strip()
    if getpass.getpass("Repeat password: ").strip() != first:
        raise accounts.StaffError("the two passwords differ")
    return first


def _add(settings: Settings, args: argparse.Namespace) -> str:
    password = _read_password(args.password_stdin)
    accounts.add_account(
        settings.users_file, args.username, args.name or "", args.email or "", args.role, password
    )
    return f"added {args.username} ({args.role})"


def _list(settings: Settings, args: argparse.Namespace) -> str:
    rows = [
        f"{a.username}\t{a.role}\t{a.name}\t{a.email}" for a in accounts.list_accounts(settings.users_file)
    ]
    return "\n".join(["username\trole\tname\temail", *rows])


def _set_role(settings: Settings, args: argparse.Namespace) -> str:
    accounts.set_role(settings.users_file, args.username, args.role)
    ended = sessions.revoke_sessions(ops.store_for(settings.ops_db), args.username)
    return f"{args.username} is now {args.role}; {ended} session(s) ended"


def _set_password(settings: Settings, args: argparse.Namespace) -> str:
    accounts.set_password(settings.users_file, args.username, _read_password(args.password_stdin))
    ended = sessions.revoke_sessions(ops.store_for(settings.ops_db), args.username)
    return f"password of {args.username} changed; {ended} session(s) ended"


def _remove(settings: Settings, args: argparse.Namespace) -> str:
    accounts.remove_account(settings.users_file, args.username)
    ended = sessions.revoke_sessions(ops.store_for(settings.ops_db), args.username)
    return f"removed {args.username}; {ended} session(s) ended"


def _unlock(settings: Settings, args: argparse.Namespace) -> str:
    if not args.username and not args.client:
        raise accounts.StaffError("name a username or --client ADDRESS to unlock")
    cleared = login_throttle.clear_failures(ops.store_for(settings.ops_db), args.username, args.client)
    return f"cleared {cleared} failed sign-in(s)"


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m console.users", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    add = commands.add_parser("add", help="add a staff user")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--name")
    add.add_argument("--email")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(run=_add)

    commands.add_parser("list", help="list staff users").set_defaults(run=_list)

    role = commands.add_parser("set-role", help="change a user's role (ends their sessions)")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(run=_set_role)

    password = commands.add_parser("set-password", help="change a user's password (ends their sessions)")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(run=_set_password)

    remove = commands.add_parser("remove", help="remove a user (ends their sessions)")
    remove.add_argument("username")
    remove.set_defaults(run=_remove)

    unlock = commands.add_parser("unlock", help="clear failed sign-ins of a user or a client address")
    unlock.add_argument("username", nargs="?")
    unlock.add_argument("--client", help="client IP address")
    unlock.set_defaults(run=_unlock)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        print(args.run(load_settings(), args))
    except (accounts.StaffError, SettingsError, OpsStoreUnreachable) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except (OpsStoreUnavailable, OSError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("error: stopped before a password was given", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
