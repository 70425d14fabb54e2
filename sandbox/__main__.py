"""`python -m sandbox generate | serve | change` (see sandbox/README.md)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from sandbox.generate import main_generate
from sandbox.server import DEFAULT_API_KEY, PERMISSIONS, Faults, Sandbox
from sandbox.webhooks import WebhookSender

# The signing secret comes from the environment, never argv: argv is visible to every user.
WEBHOOK_SECRET_VARIABLE = "SANDBOX_WEBHOOK_SECRET"  # noqa: S105 - a variable name


def day(text: str) -> int:
    try:
        return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-31") from None


def share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def restricted(text: str) -> tuple[str, str]:
    key, _, level = text.partition("=")
    if not key.startswith("rk_test_") or level not in PERMISSIONS:
        raise argparse.ArgumentTypeError(f"expected rk_test_...={'|'.join(PERMISSIONS)}")
    return key, level


def _stop_serving(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write a synthetic account to a directory")
    gen.add_argument("--customers", type=int, required=True)
    gen.add_argument("--months", type=int, default=24)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--now", type=day, help="the account's 'today' (UTC date); default today")

    serve = commands.add_parser("serve", help="serve an account as a Stripe-compatible API on 127.0.0.1")
    serve.add_argument("--data", type=Path, required=True)
    serve.add_argument("--port", type=int, default=12111)
    serve.add_argument("--api-key", default=DEFAULT_API_KEY, help="the secret key clients must send")
    serve.add_argument("--latency-ms", type=float, default=0.0)
    serve.add_argument("--rate-limit", type=float, default=0.0, help="requests per second; 0 = no limit")
    serve.add_argument("--error-rate", type=share, default=0.0)
    serve.add_argument("--drop-rate", type=share, default=0.0)
    serve.add_argument("--truncate-rate", type=share, default=0.0)
    serve.add_argument("--fault-seed", type=int)
    serve.add_argument(
        "--restricted-key",
        type=restricted,
        nargs="+",
        action="extend",
        default=[],
        metavar="rk_test_...=" + "|".join(PERMISSIONS),
    )
    serve.add_argument("--portal-ttl", type=int, default=300, help="seconds a portal session URL stays valid")
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
    change.add_argument("--url", required=True, help="e.g. http://127.0.0.1:12111")
    change.add_argument("--count", type=int, default=10)
    change.add_argument("--seed", type=int)

    args = parser.parse_args(argv)
    if args.command == "generate":
        if args.customers < 1 or args.months < 1:
            parser.error("--customers and --months must be at least 1")
        result = main_generate(args.out, args.customers, args.months, args.seed, args.now)
        took = result["seconds"]
        print(f"generated {args.customers} customers over {args.months} months in {took} s: {args.out}")
        return 0
    if args.command == "serve":
        secret = os.environ.get(WEBHOOK_SECRET_VARIABLE, "")
        if args.webhook_url and not secret:
            print(
                f"sandbox: --webhook-url needs the signing secret in ${WEBHOOK_SECRET_VARIABLE}",
                file=sys.stderr,
            )
            return 2
        try:
            webhooks = WebhookSender(args.webhook_url, secret) if args.webhook_url else None
            server = Sandbox(
                args.data,
                port=args.port,
                api_key=args.api_key,
                restricted_keys=dict(args.restricted_key),
                faults=Faults(
                    args.latency_ms, args.rate_limit, args.error_rate, args.drop_rate, args.truncate_rate
                ),
                portal_ttl=args.portal_ttl,
                portal_configured=not args.portal_unconfigured,
                in_place=args.in_place,
                fault_seed=args.fault_seed,
                webhooks=webhooks,
            )
        except (FileNotFoundError, ValueError, OSError) as error:
            print(f"sandbox: {error}", file=sys.stderr)
            return 2
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
    if not args.url.startswith(("http://", "https://")):
        parser.error("--url must start with http:// or https://")
    # The scheme is checked above: an operator-given http(s) URL.
    request = urllib.request.Request(  # noqa: S310
        args.url.rstrip("/") + "/_sandbox/changes", data=json.dumps(payload).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
            print(answer.read().decode())
    except (urllib.error.URLError, OSError) as error:
        print(f"sandbox: could not reach {args.url}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
