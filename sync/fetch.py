"""Reading Stripe: one shared request budget, retries, and windowed parallel paging.

Requests go through the `stripe` package (`StripeClient.raw_request`: its
authentication, pinned API version and kept-alive per-thread HTTP sessions), but with
the package's own retries off: a retry must spend the shared budget and a 429 must
slow every worker down, which only this module can do. Pages come back as parsed
JSON and are flattened in bulk by `sync.transform`; no StripeObject is ever built.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import stripe
from stripe._api_version import _ApiVersion

from sync.resources import Resource

log = logging.getLogger("sync")

PAGE_SIZE = 100
MAX_ATTEMPTS = 8  # about a minute of backoff before a request fails the run
BACKOFF_CAP = 16.0
HTTP_TIMEOUT = 60.0
# The version the installed package was built for; every page is read in this shape.
API_VERSION = _ApiVersion.CURRENT


class KeyRefused(Exception):
    """Stripe answered 401/403: the key is wrong, revoked or lacks a permission."""


class NotFound(Exception):
    """The endpoint or the object does not exist on this server."""


class Unsupported(Exception):
    """The server refused a parameter (400): a Stripe-compatible server with fewer features."""


class Budget:
    """A token bucket shared by all workers, paced down on 429 (AIMD).

    Each request takes one token; tokens refill at `rate` per second up to a burst of
    about a quarter second, so requests go out evenly rather than in bursts that the
    server's per-second limiter would refuse. A 429 multiplies the pace by 0.7; every
    quiet second adds back a twentieth of the target rate.
    """

    def __init__(self, rate: float) -> None:
        self.target = rate
        self.rate = rate
        self._capacity = max(1.0, rate / 4)
        self._tokens = 1.0
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                elapsed = now - self._last
                self._last = now
                self.rate = min(self.target, self.rate + self.target * 0.05 * elapsed)
                self._tokens = min(self._capacity, self._tokens + elapsed * self.rate)
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            time.sleep(wait)

    def slow_down(self) -> None:
        with self._lock:
            self.rate = max(self.target / 20, self.rate * 0.7)
            self._tokens = min(self._tokens, 0.0)


class StripeReader:
    """GET requests to Stripe under a shared budget, with retries; thread-safe."""

    def __init__(self, api_key: str, api_base: str | None, rate: float) -> None:
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            stripe_version=API_VERSION,
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=HTTP_TIMEOUT),
        )
        self.budget = Budget(rate)
        self.requests = 0
        self._count_lock = threading.Lock()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self.budget.acquire()
            with self._count_lock:
                self.requests += 1
            try:
                return self._request(path, params or {})
            except stripe.StripeError as exc:
                status = exc.http_status
                if status in (401, 403):
                    raise KeyRefused(f"Stripe refused the API key for GET {path} (HTTP {status})") from None
                if status == 404:
                    raise NotFound(path) from None
                if not _retryable(exc) or attempt == MAX_ATTEMPTS:
                    if status == 400:
                        raise Unsupported(f"{path}: {exc.user_message or exc}") from None
                    raise
                if status == 429:
                    self.budget.slow_down()
                delay = min(BACKOFF_CAP, 0.5 * 2 ** (attempt - 1))
                time.sleep(delay * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    def _request(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        # What `raw_request` does, minus its parse of every body into nested OrderedDicts
        # (2-3x the cost of json.loads: at 90 pages/s of invoices, more than a core). The
        # package still encodes, authenticates, pins the version and raises its typed
        # errors for non-2xx answers. Private methods: stripe is pinned in requirements.txt.
        requestor = self.client._requestor
        body, status, headers = requestor.request_raw(
            "get", path, params=params, base_address="api", api_mode="V1", usage=["raw_request"]
        )
        if not 200 <= status < 300:
            requestor._interpret_response(body, status, headers, "V1")  # raises
        try:
            return json.loads(body)
        except ValueError:  # an answer cut short: retried like a dropped connection
            raise stripe.APIError("Invalid JSON in the answer", http_status=status) from None

    def get_many(self, paths: list[str], workers: int) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """(path, object) for each path, fetched in parallel; None for objects that are gone."""

        def one(path: str) -> tuple[str, dict[str, Any] | None]:
            try:
                return path, self.get(path)
            except NotFound:
                return path, None

        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(one, paths)

    def list_all(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every object of a list endpoint, one cursor after the other."""
        cursor = None
        while True:
            page = self.get(path, {**params, "limit": PAGE_SIZE, **_after(cursor)})
            data = page.get("data") or []
            yield from data
            if not page.get("has_more") or not data:
                return
            cursor = data[-1]["id"]


def _after(cursor: str | None) -> dict[str, str]:
    return {"starting_after": cursor} if cursor else {}


def _retryable(exc: stripe.StripeError) -> bool:
    should = (exc.headers or {}).get("stripe-should-retry")
    if should in ("true", "false"):
        return should == "true"
    status = exc.http_status
    # No status: the connection dropped or timed out. 200: a body cut short.
    return status is None or status in (200, 409, 429) or status >= 500


@dataclass
class _Window:
    """Part of a resource's list: created in [lo, hi), after `cursor` (list order)."""

    resource: Resource
    lo: int | None = None
    hi: int | None = None
    cursor: str | None = None
    cursor_created: int | None = None


class WindowedLister:
    """Fetch whole lists with a worker pool, splitting created ranges as workers go idle.

    Every resource starts as one unfiltered list (so servers without `created` filters
    still work). When a list has more pages and workers are idle, the rest of its range
    is halved by time: the newer half goes on from the cursor, the older half becomes a
    new window of its own. Halving finds where the objects are in a few requests without
    knowing the oldest one first; a server that refuses `created` filters (HTTP 400) is
    read with one cursor instead.
    """

    def __init__(self, reader: StripeReader, workers: int) -> None:
        self.reader = reader
        self.workers = workers
        self._pending = 0  # windows queued or being fetched
        self._lock = threading.Lock()
        self._windowable: dict[str, bool] = {}
        self._unexpandable: set[str] = set()

    def pages(
        self, resources: tuple[Resource, ...], on_page: Callable[[Resource, list[dict[str, Any]]], Any]
    ) -> Iterator[Any]:
        """Yield on_page(resource, objects) for every page; on_page runs in the workers."""
        todo: queue.Queue[_Window | None] = queue.Queue()
        # Bounded (a few MB of rows): workers wait while the writer catches up, so memory
        # stays flat, yet the queue outlasts a batch flush without stalling the fetches.
        done: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=self.workers * 8)
        stop = threading.Event()

        def work() -> None:
            while not stop.is_set():
                window = todo.get()
                if window is None:
                    return
                try:
                    objects = self._fetch(window, todo)
                    if objects is not None:
                        done.put(("page", on_page(window.resource, objects)))
                except BaseException as exc:  # handed to the consumer, which stops the run
                    done.put(("error", exc))
                finally:
                    with self._lock:
                        self._pending -= 1
                        finished = self._pending == 0
                    if finished:
                        done.put(("finished", None))

        for resource in resources:
            self._pending += 1
            todo.put(_Window(resource))
        threads = [threading.Thread(target=work, daemon=True) for _ in range(self.workers)]
        for thread in threads:
            thread.start()
        try:
            while True:
                kind, value = done.get()
                if kind == "finished":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            stop.set()
            for _ in threads:
                todo.put(None)
            while True:  # unblock workers waiting on a full queue
                try:
                    done.get_nowait()
                except queue.Empty:
                    break

    def _fetch(self, window: _Window, todo: queue.Queue) -> list[dict[str, Any]] | None:
        resource = window.resource
        split_at = self._split_point(window)
        try:
            if split_at is not None:
                try:
                    page = self._get(_Window(resource, split_at, window.hi, window.cursor))
                    self._windowable[resource.name] = True
                    self._push(todo, _Window(resource, window.lo or 0, split_at))
                    window = _Window(resource, split_at, window.hi, window.cursor)
                except Unsupported:
                    if self._windowable.get(resource.name):
                        raise
                    log.info("%s: server refuses created filters, reading with one cursor", resource.name)
                    self._windowable[resource.name] = False
                    page = self._get(window)
            else:
                page = self._get(window)
        except NotFound:
            if not resource.optional or window.cursor:
                raise
            log.warning("%s: endpoint %s not available on this server, skipped", resource.name, resource.path)
            return None
        objects = page.get("data") or []
        if page.get("has_more") and objects:
            last = objects[-1]
            self._push(todo, _Window(resource, window.lo, window.hi, last["id"], last.get("created")))
        return objects

    def _split_point(self, window: _Window) -> int | None:
        if window.cursor is None or window.cursor_created is None:
            return None
        if self._windowable.get(window.resource.name) is False:
            return None
        with self._lock:
            idle = self._pending < self.workers
        lo = window.lo or 0
        if not idle or window.cursor_created - lo < 2:
            return None
        return lo + (window.cursor_created - lo) // 2

    def _push(self, todo: queue.Queue, window: _Window) -> None:
        with self._lock:
            self._pending += 1
        todo.put(window)

    def _get(self, window: _Window) -> dict[str, Any]:
        params: dict[str, Any] = {**window.resource.params, "limit": PAGE_SIZE, **_after(window.cursor)}
        created = {}
        if window.lo is not None:
            created["gte"] = window.lo
        if window.hi is not None:
            created["lt"] = window.hi
        if created:
            params["created"] = created
        resource = window.resource
        if resource.expand and resource.name not in self._unexpandable:
            try:
                return self.reader.get(resource.path, {**params, "expand": list(resource.expand)})
            except Unsupported:
                # Only a request without `created` tells that the server refuses the
                # expansion (localstripe's subscriptions have no default_payment_method);
                # a refused created filter is the windowing's to handle.
                if created:
                    raise
                log.warning("%s: server refuses expand %s, reading ids only", resource.name, resource.expand)
                self._unexpandable.add(resource.name)
        return self.reader.get(resource.path, params)
