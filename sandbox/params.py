"""Stripe's form encoding of request parameters (`a[b][0][c]=v`) into nested dicts and lists,
and Stripe's JSON error answers."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"\[([^\]]*)\]")


class StripeError(Exception):
    """An error answer in Stripe's shape: {"error": {"type", "code", "message", "param"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # Stripe's field name
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        error: dict[str, Any] = {"message": message, "type": type}
        if code is not None:
            error["code"] = code
            error["doc_url"] = f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}"
        if param is not None:
            error["param"] = param
        self.body = json.dumps({"error": error}, ensure_ascii=False).encode()


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def missing(resource_name: str, oid: str, param: str | None, status: int = 400) -> StripeError:
    return StripeError(status, f"No such {resource_name}: '{oid}'", code="resource_missing", param=param)


def parse(text: str) -> dict[str, Any]:
    """Decode a query string or form body the way Stripe does."""
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(text, keep_blank_values=True):
        head = raw_key.split("[", 1)[0]
        parts = [head, *_KEY.findall(raw_key[len(head) :])]
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "":
                # `types[]=a&types[]=b`: append.
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def as_int(value: Any, param: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise invalid(f"Invalid integer: {value if isinstance(value, str) else json.dumps(value)}", param)


def as_bool(value: Any, param: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise invalid(f"Invalid boolean: {value}", param)


def as_list(value: Any, param: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    raise invalid(f"Invalid array: {param}", param)
