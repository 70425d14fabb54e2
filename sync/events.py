"""Incremental runs: apply the events after the saved cursor.

Cost follows the changes: one request per 100 events of the types the warehouse reads,
plus one per object whose payload cannot be used as it is (rendered in another API
version than the pinned one, or a subscription whose item list was cut short).
Applying the newest state of each object by id makes replays harmless, so the cursor
keeps a small overlap instead of trusting that events appear in the list the instant
they are created.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sync import transform
from sync.backfill import complete_subscription
from sync.fetch import API_VERSION, NotFound, StripeReader, Unsupported
from sync.progress import Progress
from sync.publish import Writer
from sync.resources import BY_OBJECT, EVENT_TYPE_GROUPS, PAYMENT_METHOD_EVENTS

RETENTION_SECONDS = 30 * 86400  # Stripe keeps events for 30 days
OVERLAP_SECONDS = 60


class CursorExpired(Exception):
    """The saved cursor is older than the Events API keeps: only a full backfill is exact."""


@dataclass
class EventsApplied:
    events: int  # events read
    newest: int | None  # created of the newest event read


def _read_stream(reader: StripeReader, types: list[str] | None, since: int | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {}
    if types:
        params["types"] = types
    if since is not None:
        params["created"] = {"gte": since}
    return list(reader.list_all("/v1/events", params))


def read_events(
    reader: StripeReader, since: int | None, type_groups: tuple[tuple[str, ...], ...] = EVENT_TYPE_GROUPS
) -> list[list[dict[str, Any]]]:
    """Event streams, each newest first: one per type group, or one unfiltered stream
    when the server does not filter by `types[]` (filtered here instead)."""
    groups = [list(group) for group in type_groups]
    try:
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            return list(pool.map(lambda types: _read_stream(reader, types, since), groups))
    except Unsupported:
        wanted = {t for group in groups for t in group}
        everything = _read_stream(reader, None, since)
        return [[event for event in everything if event.get("type") in wanted]]


def newest_per_object(streams: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The newest event of each object. All events of one object are in one stream
    (see EVENT_TYPE_GROUPS), whose order settles events made in the same second."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for stream in streams:
        if stream and stream[0]["created"] < stream[-1]["created"]:
            stream = stream[::-1]  # oldest first: some Stripe-compatible servers (localstripe)
        # Stable: keeps the server's order among events of the same second.
        for event in sorted(stream, key=lambda e: -e["created"]):
            obj = event["data"]["object"]
            newest.setdefault((obj.get("object"), obj["id"]), event)
    return list(newest.values())


def _usable(event: dict[str, Any]) -> bool:
    obj = event["data"]["object"]
    if event.get("api_version") != API_VERSION:
        return False
    return obj.get("object") != "subscription" or transform.items_complete(obj)


def _missing_links(
    reader: StripeReader, writer: Writer, objects: list[dict[str, Any]], workers: int
) -> list[dict[str, Any]]:
    """Invoice payments of changed charges whose payment intent no invoice is known to use.

    Stripe emits an event when an invoice payment is paid, not when it is created, so
    the link of a failed attempt on an invoice is only found by asking: one request per
    such payment intent.
    """
    intents = {transform.ref(o.get("payment_intent")) for o in objects if o.get("object") == "charge"}
    intents -= {transform.ref((o.get("payment") or {}).get("payment_intent")) for o in objects}
    intents -= writer.linked_payment_intents(intents - {None})
    intents.discard(None)

    def payments_of(intent: str) -> list[dict[str, Any]]:
        query = {"payment": {"type": "payment_intent", "payment_intent": intent}}
        try:
            return list(reader.list_all("/v1/invoice_payments", query))
        except (NotFound, Unsupported):  # a server without invoice payments: older links only
            return []

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [payment for found in pool.map(payments_of, sorted(intents)) for payment in found]


def _detached_from(latest: list[dict[str, Any]]) -> dict[str, str]:
    """The customer each detached payment method left: Stripe clears `customer` on the
    object and names the former one only in the event's previous_attributes."""
    found = {}
    for event in latest:
        previous = event["data"].get("previous_attributes") or {}
        if event["type"] == "payment_method.detached" and previous.get("customer"):
            found[event["data"]["object"]["id"]] = transform.ref(previous["customer"])
    return found


def _current_objects(
    reader: StripeReader, latest: list[dict[str, Any]], workers: int
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The current state of each event's object: its payload when usable, else re-fetched.
    Answers the objects and the ids of objects gone by kind."""
    objects: list[dict[str, Any]] = []
    refetch: dict[str, str] = {}  # path -> object kind
    gone: dict[str, list[str]] = {"customer": [], "invoice": [], "product": [], "price": []}
    for event in latest:
        obj = event["data"]["object"]
        kind = obj.get("object")
        kind = "price" if kind == "plan" else kind
        if kind not in BY_OBJECT:
            continue
        if event["type"].endswith(".deleted") and kind in gone:
            if kind == "customer":  # kept, marked: their subscriptions and invoices stay
                objects.append({**obj, "deleted": True})
            else:
                gone[kind].append(obj["id"])
        elif _usable(event):
            objects.append(obj)
        else:
            refetch[f"{BY_OBJECT[kind].path}/{obj['id']}"] = kind

    for path, obj in reader.get_many(list(refetch), workers):
        kind = refetch[path]
        object_id = path.rsplit("/", 1)[1]
        if obj is None or obj.get("deleted"):
            if kind in ("customer", "invoice"):
                gone[kind].append(object_id)
            continue
        objects.append(complete_subscription(reader, obj) if kind == "subscription" else obj)

    detached_from = _detached_from(latest)
    objects = [
        {**obj, transform.DETACHED_FROM: detached_from[obj["id"]]}
        if obj.get("object") == "payment_method" and obj["id"] in detached_from
        else obj
        for obj in objects
    ]
    return objects, gone


def _missing_defaults(
    reader: StripeReader, writer: Writer, objects: list[dict[str, Any]], workers: int
) -> list[dict[str, Any]]:
    """Default payment methods that changed customers and subscriptions name and the
    warehouse lacks: making an attached method the default emits only customer.updated."""
    named = {pm for obj in objects for pm in transform.default_payment_method_ids(obj)}
    named -= {obj["id"] for obj in objects if obj.get("object") == "payment_method"}
    named -= writer.known_payment_methods(named)
    paths = [f"{BY_OBJECT['payment_method'].path}/{pm}" for pm in sorted(named)]
    return [obj for _, obj in reader.get_many(paths, workers) if obj is not None]


def recent_payment_methods(reader: StripeReader, workers: int) -> list[dict[str, Any]]:
    """For a backfill: the payment methods events of the last 30 days touched.

    Stripe lists payment methods only customer by customer (one request each, several
    times the whole backfill); the lists expand the defaults, and the events Stripe keeps
    add the other methods attached, changed or detached lately, for a few requests.
    """
    try:
        streams = read_events(reader, int(time.time()) - RETENTION_SECONDS, (PAYMENT_METHOD_EVENTS,))
    except NotFound:  # a server without an Events API
        return []
    return _current_objects(reader, newest_per_object(streams), workers)[0]


def apply_events(
    reader: StripeReader, writer: Writer, cursor: int | None, workers: int, progress: Progress
) -> EventsApplied:
    if cursor is not None and cursor < time.time() - RETENTION_SECONDS:
        raise CursorExpired(f"the events cursor is older than {RETENTION_SECONDS // 86400} days")
    streams = read_events(reader, None if cursor is None else cursor - OVERLAP_SECONDS)
    count = sum(len(stream) for stream in streams)
    progress.advance("events", count)
    newest = max((e["created"] for stream in streams for e in stream), default=None)

    latest = newest_per_object(streams)
    objects, gone = _current_objects(reader, latest, workers)
    objects += _missing_links(reader, writer, objects, workers)
    objects += _missing_defaults(reader, writer, objects, workers)
    rows = transform.rows(objects)
    writer.add(rows)
    writer.mark_customers_deleted(gone["customer"])
    writer.delete_invoices(gone["invoice"])
    writer.deactivate("products", gone["product"])
    writer.deactivate("prices", gone["price"])
    for table, table_rows in rows.items():
        progress.advance(table, len(table_rows))
    return EventsApplied(count, newest)
