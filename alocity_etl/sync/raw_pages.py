"""A fetched page as the raw archive stores it (warehouse/raw_archive.py): payload only, never
headers or tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alocity_etl.catalog import Resource
from alocity_etl.client import Page
from alocity_etl.warehouse.raw_archive import encode_body


def raw_page(
    resource: Resource, page: Page, window: tuple[datetime, datetime] | None = None
) -> dict[str, Any]:
    endpoint = page.endpoint or resource.endpoint
    parent_key: Any = next(iter(page.parent.values())) if page.parent else None
    if endpoint == resource.detail_endpoint and resource.detail_key:
        # A detail page belongs to the listed item it enriches.
        parent_key = page.rows[0].get(resource.detail_key[0]) if page.rows else None
    return {
        "body": page.items,
        # Compressed here, in the fetching thread: zlib lets go of the GIL while it works.
        "body_z": encode_body(page.items),
        "endpoint": endpoint,
        "parent_key": parent_key,
        "params": page.params,
        "page_number": page.page_number,
        "fetched_at": page.fetched_at,
        "window": window,
    }
