"""The baseline: a minimal generic loader, the way generic tools load a Stripe account.

Each resource is paged through one cursor, one request at a time, with the stripe
package's auto-pagination (`auto_paging_iter`), which builds a `StripeObject` for
every object; each object is converted to a dict and stored as JSON in DuckDB, a
page at a time. Real generic loaders also flatten and normalise every object, so
this baseline is, if anything, faster than they are.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import stripe

# (service name on StripeClient.v1, list parameters): what the sync reads, in its order.
RESOURCES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("customers", {}),
    ("products", {}),
    ("prices", {}),
    ("subscriptions", {"status": "all"}),
    ("invoices", {}),
    ("invoice_payments", {}),
    ("charges", {}),
)
PAGE_SIZE = 100


class CountingClient(stripe.RequestsClient):
    """The package's own HTTP client, counting the requests it sends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent = 0

    def request(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
        self.sent += 1
        return super().request(method, url, headers, post_data)


@dataclass
class ResourceLoad:
    objects: int = 0
    requests: int = 0
    seconds: float = 0.0
    complete: bool = False

    @property
    def rate(self) -> float:
        return self.objects / self.seconds if self.seconds else 0.0


@dataclass
class BaselineLoad:
    resources: dict[str, ResourceLoad] = field(default_factory=dict)

    @property
    def objects(self) -> int:
        return sum(r.objects for r in self.resources.values())

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.resources.values())

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.resources.values())

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.resources.values())


def load(db: Path, *, api_key: str, api_base: str, seconds_per_resource: float | None = None) -> BaselineLoad:
    """Load every resource into `db`; stop each after `seconds_per_resource` when given."""
    http = CountingClient(timeout=80)
    client = stripe.StripeClient(api_key, base_addresses={"api": api_base}, http_client=http)
    result = BaselineLoad()
    with duckdb.connect(str(db)) as con:
        for name, params in RESOURCES:
            con.execute(f"CREATE OR REPLACE TABLE {name} (id VARCHAR, created BIGINT, data JSON)")
            before = http.sent
            started = time.monotonic()
            loaded = ResourceLoad(complete=True)
            page: list[dict[str, Any]] = []
            listing = getattr(client.v1, name).list(params={**params, "limit": PAGE_SIZE})
            for obj in listing.auto_paging_iter():
                page.append(obj.to_dict())
                if len(page) == PAGE_SIZE:
                    _insert(con, name, page)
                    loaded.objects += len(page)
                    page = []
                    if seconds_per_resource and time.monotonic() - started > seconds_per_resource:
                        loaded.complete = False
                        break
            if page:
                _insert(con, name, page)
                loaded.objects += len(page)
            loaded.seconds = time.monotonic() - started
            loaded.requests = http.sent - before
            result.resources[name] = loaded
    return result


def _insert(con: duckdb.DuckDBPyConnection, table: str, objects: list[dict[str, Any]]) -> None:
    batch = pa.table(
        {
            "id": [o.get("id") for o in objects],
            "created": [o.get("created") for o in objects],
            "data": [json.dumps(o, default=str) for o in objects],
        }
    )
    con.register("page", batch)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM page")  # noqa: S608 (names from RESOURCES)
    finally:
        con.unregister("page")
