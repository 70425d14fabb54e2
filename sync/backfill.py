"""Full backfill: every list of `sync.resources`, read in parallel windows, streamed into the writer."""

from __future__ import annotations

from typing import Any

from sync import transform
from sync.fetch import StripeReader, WindowedLister
from sync.progress import Progress
from sync.publish import Writer
from sync.resources import RESOURCES, Resource


def newest_event(reader: StripeReader) -> dict[str, Any] | None:
    """The newest event, or None when there is none; NotFound when the server has no Events API."""
    data = reader.get("/v1/events", {"limit": 1}).get("data") or []
    return data[0] if data else None


def complete_subscription(reader: StripeReader, sub: dict[str, Any]) -> dict[str, Any]:
    """The subscription with all its items: fetched only when the embedded list was cut short."""
    if transform.items_complete(sub):
        return sub
    items = list(reader.list_all("/v1/subscription_items", {"subscription": sub["id"]}))
    return transform.with_items(sub, items)


def backfill(reader: StripeReader, writer: Writer, workers: int, progress: Progress) -> None:
    """Load every object (optional lists the server lacks are skipped with a warning)."""
    lister = WindowedLister(reader, workers)

    def on_page(resource: Resource, objects: list[dict[str, Any]]) -> tuple[str, int, transform.Rows]:
        # Runs in the fetching worker: flattening is spread over the pool.
        if resource.object == "subscription":
            objects = [complete_subscription(reader, sub) for sub in objects]
        return resource.name, len(objects), transform.rows(objects)

    for name, count, rows in lister.pages(RESOURCES, on_page):
        writer.add(rows)
        progress.advance(name, count)
