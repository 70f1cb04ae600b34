"""Catalog-driven fetching: every page of one `Resource`, however the catalog says to get it."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from alocity_etl.catalog import Paging, Resource, endpoint_path
from alocity_etl.client import wire
from alocity_etl.client.api import AlocityClient
from alocity_etl.client.errors import ControlledError
from alocity_etl.client.page import Page

log = logging.getLogger(__name__)


Record = Callable[[str, Any], None]
T = TypeVar("T")
R = TypeVar("R")


def call_key(endpoint: str, params: Mapping[str, Any] | None) -> str:
    """Identity of one GET: path plus sorted query (never a secret). Keys a page journal."""
    query = urlencode(sorted((str(k), str(v)) for k, v in (params or {}).items()))
    return f"{endpoint}?{query}"


class _Calls:
    """Answers GETs from `replay` (payloads an interrupted run already received) when it can,
    else from the API; every payload received from the API is passed to `record` first.
    Called from several threads at once (see `_in_order`)."""

    def __init__(self, client: AlocityClient, replay: Mapping[str, Any] | None, record: Record | None):
        self.client, self.replay, self.record = client, replay or {}, record
        self.replayed = 0
        self._lock = threading.Lock()

    def __call__(self, endpoint: str, params: dict[str, Any] | None) -> Any:
        key = call_key(endpoint, params)
        if key in self.replay:
            with self._lock:
                self.replayed += 1
            return self.replay[key]
        payload = self.client.get(endpoint, params)
        if self.record is not None:
            with self._lock:
                self.record(key, payload)
        return payload


def _in_order(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[Callable[[], R]]:
    """`fn(item)` for every item, up to `workers` at a time, yielded in item order as a callable
    that returns fn's result or raises what fn raised. At most 2 x workers are in flight or
    waiting to be consumed, so memory stays flat. workers <= 1: one after the other, lazily."""
    if workers <= 1:
        for item in items:
            yield partial(fn, item)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="alocity-call")
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result
        while pending:
            yield pending.popleft().result
    finally:
        # A failure or an abandoned generator: what has not started never will; what is in
        # flight finishes (its payload journaled) before we return.
        pool.shutdown(wait=True, cancel_futures=True)


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

    Per-parent and detail calls run `client.settings.concurrency` at a time (the shared
    rate limiter still admits each one); pages are yielded in the same order regardless.

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

    def one_parent(row: dict[str, Any]) -> list[Page]:
        if fan.parent_key not in row:
            raise ValueError(f"{resource.name}: parent row has no {fan.parent_key!r} field")
        value = row[fan.parent_key]
        path_params = {fan.path_param: value} if fan.path_param else {}
        query = {fan.query_param: value} if fan.query_param else {}
        # Within one parent, calls run one after the other: the parents are what run at once.
        return list(_fetch_one(client, calls, resource, path_params, query, {name: value}, window, workers=1))

    for pages in _in_order(one_parent, parents, client.settings.concurrency):
        yield from pages()


def _fetch_one(
    client: AlocityClient,
    calls: _Calls,
    resource: Resource,
    path_params: dict[str, Any],
    query: dict[str, Any],
    parent: dict[str, Any] | None,
    window: tuple[datetime, datetime] | None,
    workers: int | None = None,
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

    def detail(item: dict[str, Any]) -> Page | None:
        detail_path = _path(resource.detail_endpoint, **{detail_param: item[item_field]})  # type: ignore[arg-type]
        try:
            return client._unpaged(detail_path, None, parent, get=calls)
        except ControlledError as exc:
            # Deleted between the listing and the detail call: not an error of the sync.
            if exc.code.endswith("_not_found"):
                log.warning(
                    "%s: %s vanished before its detail call (%s)", resource.name, detail_path, exc.code
                )
                return None
            raise

    items = (item for list_page in listing for item in list_page.rows)
    for result in _in_order(detail, items, client.settings.concurrency if workers is None else workers):
        page = result()
        if page is not None:
            client._count(page)
            yield page
