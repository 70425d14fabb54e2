"""The ops store's schema and moves: `python -m console.ops_migrate upgrade|copy`.

- `upgrade`: apply the migrations the ops store (OPS_DB) lacks. The console does this at
  start too; on PostgreSQL run it as the role that owns the tables, before starting
  consoles whose role may not change the schema (README, "Beyond one machine").
- `copy --from PATH [--to URL]`: copy a SQLite ops store into an empty PostgreSQL one
  (default: OPS_DB), every table in one transaction. Leave the password out of the URL
  (libpq reads PGPASSWORD or ~/.pgpass): a command line is visible to other users.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.ops.store import OpsStore, OpsStoreUnavailable, OpsStoreUnreachable
from console.ops.transfer import TransferError, copy_store
from settings import PostgresUrl, Settings, SettingsError, load_settings, ops_location
from settings.command_line import OneLineParser


def _upgrade(settings: Settings, args: argparse.Namespace) -> str:
    store = OpsStore(settings.ops_db)
    return f"the ops store {store.name} is at schema version {store.schema_version()}"


def _copy(settings: Settings, args: argparse.Namespace) -> str:
    target = ops_location(args.to, "--to") if args.to else settings.ops_db
    if not isinstance(target, PostgresUrl):
        raise SettingsError("--to", "is not a postgresql:// URL", "give --to URL or set OPS_DB to one")
    source = ops_location(args.source, "--from")
    if not isinstance(source, Path) or not source.is_file():
        raise SettingsError("--from", "is not an ops store file", "give the SQLite file of OPS_DB")
    copied = copy_store(OpsStore(source), OpsStore(target))
    rows = ", ".join(f"{table} {count}" for table, count in copied.items())
    return f"copied {sum(copied.values())} rows to {target.redacted}: {rows}"


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m console.ops_migrate", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("upgrade", help="apply the ops store's pending migrations").set_defaults(run=_upgrade)
    copy = commands.add_parser("copy", help="copy a SQLite ops store into an empty PostgreSQL one")
    copy.add_argument("--from", dest="source", required=True, metavar="PATH", help="the SQLite ops store")
    copy.add_argument("--to", metavar="URL", help="postgresql://USER@HOST:PORT/DATABASE (default: OPS_DB)")
    copy.set_defaults(run=_copy)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        print(args.run(load_settings(), args))
    except (SettingsError, OpsStoreUnreachable) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except (TransferError, OpsStoreUnavailable, OSError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
