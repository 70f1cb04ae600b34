"""Catalog-driven fetching: every page of one `Resource`, however the catalog says to get it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from alocity_etl.catalog import Paging, Resource, endpoint_path
from alocity_etl.client import wire
from alocity_etl.client.api import AlocityClient
from alocity_etl.client.errors import ControlledError
from alocity_etl.client.page import Page

log = logging.getLogger(__name__)


Record = Callable[[str, Any], None]


def call_key(endpoint: str, params: Mapping[str, Any] | None) -> str:
    """Identity of one GET: path plus sorted query (never a secret). Keys a page journal."""
    query = urlencode(sorted((str(k), str(v)) for k, v in (params or {}).items()))
    return f"{endpoint}?{query}"


class _Calls:
    """Answers GETs from `replay` (payloads an interrupted run already received) when it can,
    else from the API; every payload received from the API is passed to `record` first."""

    def __init__(self, client: AlocityClient, replay: Mapping[str, Any] | None, record: Record | None):
        self.client, self.replay, self.record = client, replay or {}, record
        self.replayed = 0

    def __call__(self, endpoint: str, params: dict[str, Any] | None) -> Any:
        key = call_key(endpoint, params)
        if key in self.replay:
            self.replayed += 1
            return self.replay[key]
        payload = self.client.get(endpoint, params)
        if self.record is not None:
            self.record(key, payload)
        return payload


def _path(endpoint: str, **path_params: Any) -> str:
    # Path segments are ids from the API (Guids, longs, serial numbers): quote anything unusual.
    return endpoint_path(endpoint, **{k: quote(str(v), safe="") for k, v in path_params.items()})


def fetch_resource(
    client: AlocityClient,
    resource: Resource,
    parents: Iterable[dict[str, Any]] | None = None,
    window: tuple[datetime, datetime] | None = None,
    replay: Mapping[str, Any] | None = None,
    record: Record | None = None,
) -> Iterator[Page]:
    """Yield the pages of `resource`.

    * fan-out resources need `parents` (rows of the parent resource); one call (or
      paged listing) per parent, each Page carrying `parent`, e.g. {"groupId": 12};
    * resources with `window_params` need `window` = (from inclusive, to exclusive);
    * resources with a `detail_endpoint` yield one Page per listed item, in listing
      order: `items` is the detail object (a dict), `endpoint` the detail endpoint.

    Resuming: `record(key, payload)` is called with every payload received (listing
    pages consumed for detail calls, and the empty page that ends a listing, included);
    `replay` maps such keys (`call_key`) to payloads recorded by an interrupted run, and
    those calls are answered from it instead of the API. The pages yielded are the same,
    in the same order, as an uninterrupted fetch.

    Raises `EndpointUnavailable` on a 404 (the caller reports and skips the resource).
    """
    calls = _Calls(client, replay, record)
    if resource.window_params and window is None:
        raise ValueError(f"{resource.name} is fetched by time window: pass window=(start, end)")
    if window is not None and not resource.window_params:
        raise ValueError(f"{resource.name} has no time window parameters")
    fan = resource.fan_out
    if fan is None:
        yield from _fetch_one(client, calls, resource, {}, {}, None, window)
        return
    if parents is None:
        raise ValueError(f"{resource.name} is fetched per {fan.parent} row: pass parents=")
    name = fan.path_param or fan.query_param
    assert name is not None, f"catalog: {resource.name}.fan_out fills neither a path nor a query param"
    for row in parents:
        if fan.parent_key not in row:
            raise ValueError(f"{resource.name}: parent row has no {fan.parent_key!r} field")
        value = row[fan.parent_key]
        path_params = {fan.path_param: value} if fan.path_param else {}
        query = {fan.query_param: value} if fan.query_param else {}
        yield from _fetch_one(client, calls, resource, path_params, query, {name: value}, window)


def _fetch_one(
    client: AlocityClient,
    calls: _Calls,
    resource: Resource,
    path_params: dict[str, Any],
    query: dict[str, Any],
    parent: dict[str, Any] | None,
    window: tuple[datetime, datetime] | None,
) -> Iterator[Page]:
    path = _path(resource.endpoint, **path_params)
    params: dict[str, Any] = {**resource.params, **query}
    if window is not None and resource.window_params:
        start_name, end_name = resource.window_params
        params[start_name] = wire.format_datetime(window[0])
        params[end_name] = wire.format_datetime(window[1])

    if resource.detail_endpoint is None:
        pages = (
            client._iter_pages(path, params, None, parent, get=calls)
            if resource.paging is Paging.PAGED
            else iter([client._unpaged(path, params, parent, get=calls)])
        )
        for page in pages:
            client._count(page)
            yield page
        return

    # Detail enrichment: the listing pages are consumed here, each item replaced by its detail.
    assert resource.detail_key is not None, f"catalog: {resource.name} has detail_endpoint, no detail_key"
    item_field, detail_param = resource.detail_key
    listing = (
        client._iter_pages(path, params, None, parent, get=calls)
        if resource.paging is Paging.PAGED
        else iter([client._unpaged(path, params, parent, get=calls)])
    )
    for list_page in listing:
        for item in list_page.rows:
            detail_path = _path(resource.detail_endpoint, **{detail_param: item[item_field]})
            try:
                page = client._unpaged(detail_path, None, parent, get=calls)
                client._count(page)
            except ControlledError as exc:
                # Deleted between the listing and the detail call: not an error of the sync.
                if exc.code.endswith("_not_found"):
                    log.warning(
                        "%s: %s vanished before its detail call (%s)", resource.name, detail_path, exc.code
                    )
                    continue
                raise
            yield page
