"""A local Stripe-compatible API over a generated account, with faults on demand.

Serves 127.0.0.1 only. The real `stripe` package talks to it as to Stripe: same paths,
parameters, list envelopes, error bodies and status codes. Each request thread reads
the account's SQLite file through its own connection; the change endpoint writes to a
working copy (WAL) so the generated files stay as they were.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from sandbox import portal, shapes
from sandbox.params import StripeError, as_bool, as_int, as_list, invalid, missing, parse
from sandbox.store import ACCOUNT_FILE, PREFIXES, AccountReader, NotFound, dump, get_meta
from sandbox.webhooks import WebhookSender

DEFAULT_API_KEY = "sk_test_sandbox_4eC39HqLyjWDarjtT1zdp7dc"
# Restricted key levels: `read` may call every GET (the sync); `portal_write` only creates
# portal sessions; `console` is the console's key (README, "Restricted Stripe keys"): read
# on CONSOLE_READS, write on portal sessions, nothing else.
PERMISSIONS = ("read", "portal_write", "console")
CONSOLE_READS = frozenset({"customers", "subscriptions", "invoices", "payment_methods"})
SINGULAR = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "subscriptions": "subscription",
    "subscription_items": "subscription_item",
    "invoices": "invoice",
    "invoice_payments": "invoice_payment",
    "payment_intents": "payment_intent",
    "charges": "charge",
    "events": "event",
    "payment_methods": "payment_method",
}
# list parameter -> (column, kind); kinds: str, bool
FILTERS: dict[str, dict[str, tuple[str, str]]] = {
    "customers": {"email": ("email", "str")},
    "products": {"active": ("active", "bool")},
    "prices": {"product": ("product", "str"), "active": ("active", "bool"), "currency": ("currency", "str")},
    "subscriptions": {"customer": ("customer", "str"), "price": ("price", "str")},
    "subscription_items": {"subscription": ("subscription", "str")},
    "invoices": {
        "customer": ("customer", "str"),
        "subscription": ("subscription", "str"),
        "status": ("status", "str"),
    },
    "invoice_payments": {"invoice": ("invoice", "str"), "status": ("status", "str")},
    "payment_intents": {"customer": ("customer", "str")},
    "charges": {"customer": ("customer", "str"), "payment_intent": ("payment_intent", "str")},
    "events": {},
    "payment_methods": {"customer": ("customer", "str"), "type": ("type", "str")},
}
SUBSCRIPTION_STATUSES = {
    "active",
    "past_due",
    "unpaid",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "trialing",
    "paused",
    "all",
    "ended",
}
COMMON_LIST = {"limit", "starting_after", "ending_before", "created", "expand"}
RATE_LIMITED = (
    "Request rate limit exceeded. Learn more about rate limits here https://docs.stripe.com/rate-limits."
)


@dataclass
class Faults:
    """Faults injected into /v1 answers. Rates are shares of requests (0..1)."""

    latency_ms: float = 0.0
    rate_limit: float = 0.0  # requests per second (token bucket, burst of one second); 0 = none
    error_rate: float = 0.0  # answered 500 or 503 (api_error, Stripe-Should-Retry: true)
    drop_rate: float = 0.0  # connection closed without an answer
    truncate_rate: float = 0.0  # answer cut off halfway, connection closed


class RequestRecord(NamedTuple):
    method: str
    path: str
    key: str | None


class RequestLog:
    """Every request the server saw, in order (thread-safe)."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)


class TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class Sandbox:
    """The served account and the server's own state (keys, faults, portal, request log)."""

    def __init__(
        self,
        data: Path,
        *,
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        restricted_keys: dict[str, str] | None = None,
        faults: Faults | None = None,
        portal_ttl: int = 300,
        portal_configured: bool = True,
        in_place: bool = False,
        fault_seed: int | None = None,
        webhooks: WebhookSender | None = None,
    ) -> None:
        source = Path(data) / ACCOUNT_FILE
        if not source.is_file():
            raise FileNotFoundError(
                f"no account at {source}; run `python -m sandbox generate --out {data}` first"
            )
        self.workdir = None
        if in_place:
            self.db_path = source
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="sandbox-"))  # 0700
            self.db_path = self.workdir / ACCOUNT_FILE
            # 0600 before the copy (copyfile keeps the mode); SQLite gives its WAL and
            # shared-memory files the mode of the database file.
            os.close(os.open(self.db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            shutil.copyfile(source, self.db_path)
        writer = sqlite3.connect(self.db_path, check_same_thread=False)
        if not in_place:
            # Readers keep reading while a change is written (the generated file is left as is).
            writer.execute("PRAGMA journal_mode = WAL")
        self.writer = writer
        self.write_lock = threading.Lock()
        self.meta = get_meta(writer)
        self.webhooks = webhooks
        # Events past this rowid have not been sent as webhooks yet (new rows get higher rowids).
        (self.events_sent,) = writer.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()
        for level in (restricted_keys or {}).values():
            if level not in PERMISSIONS:
                raise ValueError(f"restricted key permission must be one of {', '.join(PERMISSIONS)}")
        self.keys = {api_key: "secret", **(restricted_keys or {})}
        self.api_key = api_key
        self.faults = faults or Faults()
        self.bucket = TokenBucket(self.faults.rate_limit) if self.faults.rate_limit else None
        self.random = random.Random(fault_seed)
        self.random_lock = threading.Lock()
        self.portal = portal.Portal(self.meta["portal_configuration"], portal_ttl, portal_configured)
        self.requests = RequestLog()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.sandbox = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.rewrite = (b'":"/i/in_', f'":"{self.base_url}/i/in_'.encode())

    def set_faults(self, **changes: Any) -> Faults:
        for name, value in changes.items():
            if name not in Faults.__dataclass_fields__:
                raise ValueError(f"unknown fault {name!r}")
            setattr(self.faults, name, float(value))
        self.bucket = TokenBucket(self.faults.rate_limit) if self.faults.rate_limit else None
        return self.faults

    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self.random_lock:
            return self.random.random() < rate

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.webhooks is not None:
            self.webhooks.close()
        self.writer.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def apply_changes(self, count: int, seed: int | None = None) -> dict[str, Any]:
        from sandbox.changes import apply_changes

        with self.write_lock:
            done = apply_changes(self.writer, count, seed)
            self.send_new_events()
            return done

    def pay_invoice(self, invoice_id: str) -> None:
        from sandbox.changes import pay_invoice

        with self.write_lock:
            pay_invoice(self.writer, invoice_id)
            self.send_new_events()

    def change_customer(self, customer_id: str, action: str, value: str | None = None) -> bool:
        from sandbox.changes import change_customer

        with self.write_lock:
            done = change_customer(self.writer, customer_id, action, value)
            self.send_new_events()
            return done

    def send_new_events(self) -> None:
        """Queue the events written since the last call as webhooks (write_lock held)."""
        rows = self.writer.execute(
            "SELECT rowid, body FROM events WHERE rowid > ? ORDER BY rowid", (self.events_sent,)
        ).fetchall()
        if rows:
            self.events_sent = rows[-1][0]
            if self.webhooks is not None:
                # The same bytes the Events API serves (absolute hosted invoice URLs).
                self.webhooks.send([bytes(body).replace(*self.rewrite) for _, body in rows])


def mask(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "*" * len(key)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stripe-sandbox"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sandbox: Sandbox = self.server.sandbox  # type: ignore[attr-defined]
        self.reader = AccountReader(self.sandbox.db_path)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.reader.close()

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: request lines would carry customer ids and emails into test output.
        return

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    # plumbing

    def dispatch(self, method: str) -> None:
        target = urlsplit(self.path)
        path = target.path
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        key = self.api_key_used()
        self.sandbox.requests.add(RequestRecord(method, path, key))
        try:
            if path.startswith("/v1/"):
                self.api(method, path, target.query, raw_body, key)
                return
            if path.startswith("/_sandbox/"):
                answer = self.admin(method, path, raw_body)
            elif path.startswith(("/p/", "/i/")):
                answer = self.pages(method, path, raw_body)
            else:
                raise self.unrecognized(method, path)
        except StripeError as error:
            answer = Answer(error.status, error.body, headers=error.headers)
        self.send(answer)

    def api_key_used(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            return auth[7:].strip() or None
        if auth.startswith("Basic "):
            import base64

            try:
                return base64.b64decode(auth[6:]).decode().split(":", 1)[0] or None
            except ValueError:
                return None
        return None

    def send(self, answer: Answer, truncate: bool = False) -> None:
        body = answer.body
        head = [f"HTTP/1.1 {answer.status} {self.responses.get(answer.status, ('',))[0]}"]
        headers = {
            "Content-Type": answer.content_type
            if answer.content_type != "application/json"
            else "application/json",
            "Content-Length": str(len(body)),
            "Request-Id": "req_" + secrets.token_hex(7),
            "Stripe-Version": self.headers.get("Stripe-Version") or shapes.API_VERSION,
            "Cache-Control": "no-cache, no-store",
            **answer.headers,
        }
        if truncate:
            headers["Connection"] = "close"
        head += [f"{k}: {v}" for k, v in headers.items()]
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (
            body[: len(body) // 2] if truncate else body
        )
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if truncate:
            self.close_connection = True

    def unrecognized(self, method: str, path: str) -> StripeError:
        return StripeError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://docs.stripe.com or we can "
            "help at https://support.stripe.com/.",
        )

    # the API

    def api(self, method: str, path: str, query: str, raw_body: bytes, key: str | None) -> None:
        sandbox = self.sandbox
        faults = sandbox.faults
        try:
            self.authorize(method, path, key)
            if faults.latency_ms:
                time.sleep(faults.latency_ms / 1000)
            if sandbox.bucket is not None and not sandbox.bucket.take():
                raise StripeError(429, RATE_LIMITED, code="rate_limit")
            if sandbox.chance(faults.drop_rate):
                self.close_connection = True
                return
            if sandbox.chance(faults.error_rate):
                if sandbox.chance(0.5):
                    raise StripeError(
                        500,
                        "An unknown error occurred",
                        type="api_error",
                        headers={"Stripe-Should-Retry": "true"},
                    )
                raise StripeError(
                    503,
                    "Stripe is temporarily unavailable. Please try again.",
                    type="api_error",
                    headers={"Stripe-Should-Retry": "true"},
                )
            params = parse(query)
            if method == "POST":
                params.update(parse(raw_body.decode("utf-8", "replace")))
            body = self.route(method, path, params, key)
            answer = Answer(200, body.replace(*sandbox.rewrite))
        except StripeError as error:
            answer = Answer(error.status, error.body, headers=error.headers)
        self.send(answer, truncate=answer.status == 200 and sandbox.chance(faults.truncate_rate))

    def authorize(self, method: str, path: str, key: str | None) -> None:
        if key is None:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://docs.stripe.com/api#authentication for details, or we can help at "
                "https://support.stripe.com/.",
            )
        level = self.sandbox.keys.get(key)
        if level is None:
            raise StripeError(401, f"Invalid API Key provided: {mask(key)}", code="api_key_invalid")
        if level == "secret":
            return
        portal_write = method == "POST" and path == "/v1/billing_portal/sessions"
        parts = path.split("/")[2:]
        # A nested list (/v1/customers/<id>/payment_methods) needs the nested resource's permission.
        resource = (parts[2] if len(parts) >= 3 else parts[0]) if parts else "resource"
        if (
            (level == "read" and method == "GET")
            or (level in ("portal_write", "console") and portal_write)
            or (level == "console" and method == "GET" and resource in CONSOLE_READS)
        ):
            return
        singular = SINGULAR.get(resource, resource.removesuffix("s"))
        needed = (
            "rak_billing_portal_session_write"
            if portal_write
            else (f"rak_{singular}_{'read' if method == 'GET' else 'write'}")
        )
        raise StripeError(
            403,
            f"The provided key '{mask(key)}' does not have the required permissions for this endpoint "
            f"on account '{self.sandbox.meta['account']}'. Having the '{needed}' permission would allow "
            "this request to continue.",
        )

    def route(self, method: str, path: str, params: dict[str, Any], key: str | None) -> bytes:
        parts = path.strip("/").split("/")[1:]
        if method == "GET":
            if len(parts) == 1 and parts[0] in FILTERS:
                return self.list(parts[0], params)
            if len(parts) == 2 and parts[0] in FILTERS:
                return self.retrieve(parts[0], parts[1], params)
            if len(parts) == 3 and parts[0] == "customers" and parts[2] == "payment_methods":
                return self.customer_payment_methods(parts[1], params)
            if parts == ["account"]:
                return json.dumps(self.account()).encode()
            if parts[:2] == ["billing_portal", "configurations"]:
                return self.configurations(parts[2:])
        if method == "POST" and parts == ["billing_portal", "sessions"]:
            return self.create_portal_session(params, key)
        raise self.unrecognized(method, path)

    def account(self) -> dict[str, Any]:
        return {
            "id": self.sandbox.meta["account"],
            "object": "account",
            "business_profile": {"name": "Sandbox SaaS Inc.", "url": None},
            "charges_enabled": True,
            "country": "US",
            "default_currency": "usd",
            "email": None,
            "settings": {"dashboard": {"display_name": "Sandbox SaaS", "timezone": "Etc/UTC"}},
            "type": "standard",
        }

    def configurations(self, rest: list[str]) -> bytes:
        config = self.sandbox.portal.configuration()
        if not rest:
            data = [config] if self.sandbox.portal.configured else []
            return json.dumps(
                {
                    "object": "list",
                    "data": data,
                    "has_more": False,
                    "url": "/v1/billing_portal/configurations",
                }
            ).encode()
        if rest[0] == config["id"] and self.sandbox.portal.configured:
            return json.dumps(config).encode()
        raise missing("billing_portal.configuration", rest[0], "id", 404)

    def retrieve(self, resource: str, oid: str, params: dict[str, Any]) -> bytes:
        unknown = set(params) - {"expand"}
        if unknown:
            name = sorted(unknown)[0]
            raise invalid(f"Received unknown parameter: {name}", name)
        body = self.reader.get(resource, oid)
        if body is None:
            raise missing(SINGULAR[resource], oid, "id", 404)
        if resource == "customers" and self.reader.is_deleted_customer(oid):
            return json.dumps(shapes.deleted_customer(oid)).encode()
        expand = as_list(params.get("expand", []), "expand")
        if not expand:
            return body
        obj = json.loads(body)
        for item in expand:
            self.expand(obj, item.split("."), item)
        return dump(obj)

    def customer_payment_methods(self, customer_id: str, params: dict[str, Any]) -> bytes:
        if "customer" in params:
            raise invalid("Received unknown parameter: customer", "customer")
        if self.reader.get("customers", customer_id) is None or self.reader.is_deleted_customer(customer_id):
            raise missing("customer", customer_id, "customer", 404)
        return self.list("payment_methods", {**params, "customer": customer_id})

    def list(self, resource: str, params: dict[str, Any]) -> bytes:
        allowed = COMMON_LIST | set(FILTERS[resource])
        if resource == "subscriptions":
            allowed.add("status")
        if resource == "events":
            allowed |= {"type", "types", "delivery_success"}
        if resource == "invoice_payments":
            allowed.add("payment")
        if resource == "prices":
            allowed.add("type")
        for name in params:
            if name not in allowed:
                raise invalid(f"Received unknown parameter: {name}", name)
        limit = as_int(params.get("limit", "10"), "limit")
        if limit < 1:
            raise invalid("This value must be greater than or equal to 1.", "limit")
        if limit > 100:
            raise invalid("This value must be less than or equal to 100.", "limit")
        where, values = self.filters(resource, params)
        try:
            rows, has_more = self.reader.page(
                resource, where, values, limit, params.get("starting_after"), params.get("ending_before")
            )
        except NotFound as error:
            param = "starting_after" if params.get("starting_after") else "ending_before"
            raise missing(SINGULAR[resource], str(error), param) from None
        expand = as_list(params.get("expand", []), "expand")
        if expand:
            rows = [self.expand_row(row, expand) for row in rows]
        url = f"/v1/{resource}"
        return b"".join(
            [
                b'{"object":"list","data":[',
                b",".join(rows),
                b'],"has_more":',
                b"true" if has_more else b"false",
                b',"url":"',
                url.encode(),
                b'"}',
            ]
        )

    def filters(self, resource: str, params: dict[str, Any]) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        values: list[Any] = []
        created = params.get("created")
        if created is not None:
            if isinstance(created, dict):
                operators = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
                for op, value in created.items():
                    if op not in operators:
                        raise invalid(f"Received unknown parameter: created[{op}]", f"created[{op}]")
                    where.append(f"created {operators[op]} ?")
                    values.append(as_int(value, f"created[{op}]"))
            else:
                where.append("created = ?")
                values.append(as_int(created, "created"))
        for name, (column, kind) in FILTERS[resource].items():
            if name in params:
                value = params[name]
                if not isinstance(value, str):
                    raise invalid(f"Invalid string: {json.dumps(value)}", name)
                where.append(f"{column} = ?")
                values.append(int(as_bool(value, name)) if kind == "bool" else value)
        if resource == "customers":
            where.append("deleted = 0")
        elif resource == "subscriptions":
            status = params.get("status")
            if status is not None and status not in SUBSCRIPTION_STATUSES:
                raise invalid(
                    f"Invalid status: must be one of {', '.join(sorted(SUBSCRIPTION_STATUSES))}", "status"
                )
            if status is None:
                where.append("status != 'canceled'")
            elif status == "ended":
                where.append("status IN ('canceled', 'incomplete_expired')")
            elif status != "all":
                where.append("status = ?")
                values.append(status)
        elif resource == "subscription_items" and "subscription" not in params:
            raise invalid("Missing required param: subscription.", "subscription", "parameter_missing")
        elif resource == "invoice_payments" and "payment" in params:
            payment = params["payment"]
            if not isinstance(payment, dict) or "payment_intent" not in payment:
                raise invalid("Missing required param: payment[payment_intent].", "payment[payment_intent]")
            where.append("payment_intent = ?")
            values.append(payment["payment_intent"])
        elif resource == "payment_methods" and "customer" not in params:
            # Without a customer Stripe lists only Treasury payment methods: none here.
            where.append("0")
        elif resource == "events":
            types: list[str] = []
            if "type" in params:
                types.append(params["type"])
            if "types" in params:
                types += as_list(params["types"], "types")
            if types:
                clauses = []
                for kind in types:
                    if not isinstance(kind, str):
                        raise invalid("Invalid event type", "types")
                    if kind.endswith("*"):
                        clauses.append("type LIKE ?")
                        values.append(kind[:-1].replace("%", "") + "%")
                    else:
                        clauses.append("type = ?")
                        values.append(kind)
                where.append("(" + " OR ".join(clauses) + ")")
        return where, values

    def expand_row(self, row: bytes, expand: list[str]) -> bytes:
        obj = json.loads(row)
        for item in expand:
            if not isinstance(item, str) or not item.startswith("data."):
                raise invalid(
                    f"This property cannot be expanded ({item}). "
                    f"You may want to try expanding 'data.{item}' instead.",
                    "expand",
                )
            self.expand(obj, item.split(".")[1:], item)
        return dump(obj)

    def lookup(self, oid: str) -> dict[str, Any] | None:
        resource = next((r for p, r in PREFIXES.items() if oid.startswith(p)), None)
        if resource is None:
            return None
        body = self.reader.get(resource, oid)
        if body is None:
            return None
        if resource == "customers" and self.reader.is_deleted_customer(oid):
            return shapes.deleted_customer(oid)
        return json.loads(body)

    def expand(self, obj: Any, path: list[str], original: str) -> None:
        if len(path) > 4:
            raise invalid(f"You cannot expand more than 4 levels of a property ({original}).", "expand")
        if isinstance(obj, list):
            for element in obj:
                self.expand(element, path, original)
            return
        if not isinstance(obj, dict) or not path:
            return
        name = path[0]
        if obj.get("object") == "invoice" and name == "payments":
            rows, has_more = self.reader.page(
                "invoice_payments", ["invoice = ?"], [obj["id"]], 100, None, None
            )
            obj["payments"] = {
                "object": "list",
                "data": [json.loads(r) for r in rows],
                "has_more": has_more,
                "url": f"/v1/invoices/{obj['id']}/payments",
            }
        elif name not in obj:
            raise invalid(f"This property cannot be expanded ({original}).", "expand")
        value = obj[name]
        if isinstance(value, str):
            expanded = self.lookup(value)
            if expanded is None:
                raise invalid(f"This property cannot be expanded ({original}).", "expand")
            obj[name] = value = expanded
        if len(path) > 1:
            if isinstance(value, dict) and value.get("object") == "list":
                value = value["data"]
            self.expand(value, path[1:], original)

    def create_portal_session(self, params: dict[str, Any], key: str | None) -> bytes:
        sandbox = self.sandbox
        idempotency = self.headers.get("Idempotency-Key")
        fingerprint = json.dumps(params, sort_keys=True)
        if idempotency:
            with sandbox.portal.lock:
                seen = sandbox.portal.idempotent.get((key or "", idempotency))
            if seen is not None:
                if seen[0] != fingerprint:
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were "
                        f"first used with. Try using a key other than '{idempotency}' if you meant to "
                        "execute a different request.",
                        type="idempotency_error",
                    )
                return seen[1]
        session = sandbox.portal.create(self.reader, params, sandbox.base_url)
        body = dump(session)
        if idempotency:
            with sandbox.portal.lock:
                sandbox.portal.idempotent[(key or "", idempotency)] = (fingerprint, body)
        return body

    # pages and admin

    def pages(self, method: str, path: str, raw_body: bytes) -> Answer:
        sandbox = self.sandbox
        session = re.fullmatch(r"/p/session/([A-Za-z0-9_-]+)(/recover)?", path)
        if session:
            ps = sandbox.portal.page(session.group(1))
            if session.group(2) and method == "POST":
                email = parse(raw_body.decode("utf-8", "replace")).get("email", "")
                url = sandbox.portal.recover(session.group(1), str(email), self.reader, sandbox.base_url)
                if url is None:
                    return html_answer(
                        403, portal.message_page("Not verified", "We could not verify that email.")
                    )
                return Answer(303, b"", "text/plain", {"Location": url})
            if ps is None:
                return html_answer(404, portal.message_page("Not found", "This link is not valid."))
            if portal.is_expired(ps):
                return html_answer(200, portal.expired_page(ps))
            return html_answer(200, portal.portal_page(ps))
        invoice = re.fullmatch(r"/i/(in_[A-Za-z0-9]+)(/pdf|/pay)?", path)
        if invoice:
            if invoice.group(2) == "/pay" and method == "POST":
                sandbox.pay_invoice(invoice.group(1))
                return Answer(303, b"", "text/plain", {"Location": f"/i/{invoice.group(1)}"})
            body = self.reader.get("invoices", invoice.group(1))
            if body is None:
                return html_answer(404, portal.message_page("Not found", "This invoice link is not valid."))
            return html_answer(200, portal.invoice_page(json.loads(body)))
        return html_answer(404, portal.message_page("Not found", "Nothing here."))

    def admin(self, method: str, path: str, raw_body: bytes) -> Answer:
        sandbox = self.sandbox
        try:
            options = json.loads(raw_body or b"{}")
        except ValueError:
            raise invalid("The body must be JSON.") from None
        if not isinstance(options, dict):
            raise invalid("The body must be a JSON object.")
        if method == "GET" and path == "/_sandbox/info":
            return json_answer(
                {
                    "base_url": sandbox.base_url,
                    "meta": sandbox.meta,
                    "faults": asdict(sandbox.faults),
                    "portal_configured": sandbox.portal.configured,
                }
            )
        if method == "POST" and path == "/_sandbox/changes":
            count = options.get("count", 10)
            if not isinstance(count, int) or not 1 <= count <= 100_000:
                raise invalid("count must be a whole number from 1 to 100000.", "count")
            seed = options.get("seed")
            return json_answer(sandbox.apply_changes(count, seed if isinstance(seed, int) else None))
        if method == "POST" and path == "/_sandbox/faults":
            try:
                faults = sandbox.set_faults(**options)
            except (ValueError, TypeError) as error:
                raise invalid(str(error)) from None
            return json_answer(asdict(faults))
        if method == "POST" and path == "/_sandbox/portal":
            sandbox.portal.configured = bool(options.get("configured", True))
            if "ttl_seconds" in options:
                sandbox.portal.ttl_seconds = int(options["ttl_seconds"])
            return json_answer(
                {"configured": sandbox.portal.configured, "ttl_seconds": sandbox.portal.ttl_seconds}
            )
        raise self.unrecognized(method, path)


def html_answer(status: int, body: bytes) -> Answer:
    return Answer(status, body, "text/html; charset=utf-8")


def json_answer(value: Any) -> Answer:
    return Answer(200, json.dumps(value).encode())
