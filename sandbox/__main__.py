"""`python -m sandbox generate | serve | change` (see sandbox/README.md).

Keys for `serve` come from the environment (SANDBOX_API_KEY, SANDBOX_RESTRICTED_KEYS)
so that they never show in `ps`; the --api-key and --restricted-key options remain for
quick local use. Exit 2 for bad input (one line naming it), 1 for a runtime failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sandbox.generate import MAX_CUSTOMERS, MAX_MONTHS, main_generate
from sandbox.server import DEFAULT_API_KEY, PERMISSIONS, Faults, Sandbox
from sandbox.webhooks import WebhookSender
from settings.command_line import BAD_INPUT, OneLineParser, directory, number

RUNTIME_FAILURE = 1
FIRST_DAY, LAST_DAY = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
share = number(0, 1)
whole = number(-(2**63), 2**63 - 1, integer=True)

# The signing secret comes from the environment, never argv: argv is visible to every user.
WEBHOOK_SECRET_VARIABLE = "SANDBOX_WEBHOOK_SECRET"  # noqa: S105 - a variable name


def day(text: str) -> int:
    try:
        moment = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-31") from None
    if not FIRST_DAY <= moment < LAST_DAY:
        raise argparse.ArgumentTypeError(f"{text!r} must be in the years 2000 to 2099")
    return int(moment.timestamp())


def secret_key(text: str) -> str:
    if not re.fullmatch(r"sk_test_[A-Za-z0-9_]+", text):
        raise argparse.ArgumentTypeError("expected a test secret key, sk_test_ then letters, digits or _")
    return text


def restricted(text: str) -> tuple[str, str]:
    key, _, level = text.partition("=")
    if not re.fullmatch(r"rk_test_[A-Za-z0-9_]+", key) or level not in PERMISSIONS:
        raise argparse.ArgumentTypeError(f"expected rk_test_...={'|'.join(PERMISSIONS)}")
    return key, level


def keys_from_environment(parser: argparse.ArgumentParser) -> tuple[str | None, list[tuple[str, str]]]:
    """SANDBOX_API_KEY and SANDBOX_RESTRICTED_KEYS ("rk_test_a=read,rk_test_b=portal_write")."""
    try:
        api_key = os.environ.get("SANDBOX_API_KEY")
        listed = os.environ.get("SANDBOX_RESTRICTED_KEYS", "")
        return (
            secret_key(api_key) if api_key is not None else None,
            [restricted(item.strip()) for item in listed.split(",") if item.strip()],
        )
    except argparse.ArgumentTypeError as error:
        parser.error(f"SANDBOX_API_KEY / SANDBOX_RESTRICTED_KEYS: {error}")


def sandbox_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL like http://127.0.0.1:12111")
    return text


def _stop_serving(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write a synthetic account to a directory")
    gen.add_argument("--customers", type=number(1, MAX_CUSTOMERS, integer=True), required=True)
    gen.add_argument("--months", type=number(1, MAX_MONTHS, integer=True), default=24)
    gen.add_argument("--seed", type=whole, default=1)
    gen.add_argument("--out", type=directory, required=True)
    gen.add_argument("--now", type=day, help="the account's 'today' (UTC date); default today")

    serve = commands.add_parser("serve", help="serve an account as a Stripe-compatible API on 127.0.0.1")
    serve.add_argument("--data", type=directory, required=True)
    serve.add_argument("--port", type=number(0, 65535, integer=True), default=12111, help="0: any free port")
    serve.add_argument(
        "--api-key", type=secret_key, help="the secret key clients must send (better: SANDBOX_API_KEY)"
    )
    serve.add_argument("--latency-ms", type=number(0, 60_000), default=0.0)
    serve.add_argument(
        "--rate-limit", type=number(0, 1_000_000), default=0.0, help="requests per second; 0 = no limit"
    )
    serve.add_argument("--error-rate", type=share, default=0.0)
    serve.add_argument("--drop-rate", type=share, default=0.0)
    serve.add_argument("--truncate-rate", type=share, default=0.0)
    serve.add_argument("--fault-seed", type=whole)
    serve.add_argument(
        "--restricted-key",
        type=restricted,
        nargs="+",
        action="extend",
        default=[],
        metavar="rk_test_...=" + "|".join(PERMISSIONS),
    )
    serve.add_argument(
        "--portal-ttl",
        type=number(0, 366 * 86400, integer=True),
        default=300,
        help="seconds a portal session URL stays valid",
    )
    serve.add_argument(
        "--portal-unconfigured", action="store_true", help="answer as an account without portal settings"
    )
    serve.add_argument(
        "--in-place", action="store_true", help="apply changes to DIR itself, not to a working copy"
    )
    serve.add_argument(
        "--webhook-url",
        help=f"POST every new event there, signed with ${WEBHOOK_SECRET_VARIABLE} (whsec_...)",
    )

    change = commands.add_parser("change", help="apply N realistic changes to a running sandbox")
    change.add_argument("--url", type=sandbox_url, required=True, help="e.g. http://127.0.0.1:12111")
    change.add_argument("--count", type=number(1, 100_000, integer=True), default=10)
    change.add_argument("--seed", type=whole)

    args = parser.parse_args(argv)
    if args.command == "generate":
        try:
            args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            print(f"sandbox: argument --out: cannot make {args.out}: {error.strerror}", file=sys.stderr)
            return BAD_INPUT
        try:
            result = main_generate(args.out, args.customers, args.months, args.seed, args.now)
        except OSError as error:  # a disk that fills up, a folder made read-only meanwhile
            print(f"sandbox: could not write the account to {args.out}: {error}", file=sys.stderr)
            return RUNTIME_FAILURE
        took = result["seconds"]
        print(f"generated {args.customers} customers over {args.months} months in {took} s: {args.out}")
        return 0
    if args.command == "serve":
        env_key, env_restricted = keys_from_environment(parser)
        secret = os.environ.get(WEBHOOK_SECRET_VARIABLE, "")
        if args.webhook_url and not secret:
            print(
                f"sandbox: --webhook-url needs the signing secret in ${WEBHOOK_SECRET_VARIABLE}",
                file=sys.stderr,
            )
            return BAD_INPUT
        try:
            webhooks = WebhookSender(args.webhook_url, secret) if args.webhook_url else None
        except ValueError as error:
            print(f"sandbox: argument --webhook-url: {error}", file=sys.stderr)
            return BAD_INPUT
        try:
            server = Sandbox(
                args.data,
                port=args.port,
                api_key=args.api_key or env_key or DEFAULT_API_KEY,
                restricted_keys=dict(env_restricted + args.restricted_key),
                faults=Faults(
                    args.latency_ms, args.rate_limit, args.error_rate, args.drop_rate, args.truncate_rate
                ),
                portal_ttl=args.portal_ttl,
                portal_configured=not args.portal_unconfigured,
                in_place=args.in_place,
                fault_seed=args.fault_seed,
                webhooks=webhooks,
            )
        except (FileNotFoundError, sqlite3.DatabaseError) as error:  # no account, or not one
            print(f"sandbox: argument --data: {args.data}: {error}", file=sys.stderr)
            return BAD_INPUT
        except OSError as error:  # the port is taken, say
            print(
                f"sandbox: cannot serve on 127.0.0.1:{args.port}: {error.strerror or error}", file=sys.stderr
            )
            return RUNTIME_FAILURE
        sends = f", webhooks to {args.webhook_url}" if args.webhook_url else ""
        print(f"sandbox serving {args.data} at {server.base_url}{sends} (Ctrl-C to stop)", flush=True)
        # Stopped with SIGTERM (by make demo, the benchmarks), still remove the working copy.
        signal.signal(signal.SIGTERM, _stop_serving)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
        return 0
    payload = {"count": args.count, **({"seed": args.seed} if args.seed is not None else {})}
    # sandbox_url checked the scheme: an operator-given http(s) URL.
    request = urllib.request.Request(  # noqa: S310
        args.url.rstrip("/") + "/_sandbox/changes", data=json.dumps(payload).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
            print(answer.read().decode())
    except (urllib.error.URLError, OSError) as error:
        print(f"sandbox: could not reach {args.url}: {error}", file=sys.stderr)
        return RUNTIME_FAILURE
    return 0


if __name__ == "__main__":
    os.umask(0o077)  # whatever else the commands write (SQLite journals, logs) is private too
    raise SystemExit(main())
