"""`AlocityClient`: authenticated, rate-limited, retried GETs against the Alocity API.

One request goes: shared rate limiter -> send with the shared JWT -> on 401 renew
the token once and replay -> check the HTTP status -> check the envelope's
`hasErrors`. Transient failures and 429s are retried by `RetryPolicy`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import orjson

from alocity_etl import __version__
from alocity_etl.catalog import API_PREFIX
from alocity_etl.client import wire
from alocity_etl.client.accounting import ClientStats
from alocity_etl.client.errors import (
    AccessKeyInactive,
    AccessKeyNotFound,
    ControlledError,
    EndpointUnavailable,
    HttpStatusError,
    MalformedResponse,
    PagingError,
    RateLimited,
    TransientError,
    Unauthorized,
)
from alocity_etl.client.page import Page, endpoint_name
from alocity_etl.client.ratelimit import SharedRateLimiter
from alocity_etl.client.retry import RetryPolicy
from alocity_etl.client.settings import ClientSettings
from alocity_etl.client.state import open_state_store
from alocity_etl.client.token_cache import TokenCache
from alocity_etl.client.transport import NoResponse, Response, Transport

USER_AGENT = f"alocity-etl/{__version__}"


def _endpoint(path: str) -> str:
    return path if path.startswith("/") else f"{API_PREFIX}/{path}"


def _retry_after(response: Response) -> float | None:
    raw = response.headers.get(wire.RETRY_AFTER_HEADER, "").strip()
    try:
        value = float(raw)
    except ValueError:
        return None  # absent, or an HTTP date we do not rely on
    return value if value > 0 else None


def _controlled_error(envelope: dict[str, Any], endpoint: str) -> ControlledError:
    events = envelope.get("applicationEvents") or []
    errors = [e for e in events if isinstance(e, dict) and e.get("type") == "Error"] or [
        e for e in events if isinstance(e, dict)
    ]
    first = errors[0] if errors else {}
    code = str(first.get("code") or "unknown_error")
    message = str(first.get("message") or "")
    parameter = first.get("parameter")
    cls: type[ControlledError] = ControlledError
    if code == wire.KEY_INACTIVE_CODE:
        cls = AccessKeyInactive
    elif code == wire.KEY_NOT_FOUND_CODE:
        cls = AccessKeyNotFound
    return cls(code, message, str(parameter) if parameter is not None else None, endpoint)


class AlocityClient:
    """Read access to one Alocity account. Safe to use from several processes and threads at once
    (fetch runs `settings.concurrency` calls in parallel): the token cache and the limiter share
    one `StateStore` (locked files, or PostgreSQL with ALOCITY_STATE_URL, reached here before
    any request), the counters are locked, and urllib3's pool is thread-safe."""

    def __init__(self, settings: ClientSettings, logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self.log = logger or logging.getLogger("alocity_etl.client")
        self.stats = ClientStats()
        # First: a state store that cannot be reached fails the client before anything else.
        self.state = open_state_store(self.settings)
        # One kept-alive connection per thread in flight.
        self._http = Transport(
            self.settings.base_url,
            self.settings.connect_timeout_s,
            self.settings.read_timeout_s,
            pool_size=max(10, self.settings.concurrency + 1),
            user_agent=USER_AGENT,
        )
        try:
            self.limiter = SharedRateLimiter(self.settings, self.state)
        except BaseException:
            self.close()
            raise
        self.tokens = TokenCache(self.settings, self._login, self.stats, self.state)
        self._retry = RetryPolicy(self.settings, self.stats, self.log)
        self._server_date: tuple[str, float] | None = None  # (Date header, time.monotonic())

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()
        self.state.close()

    def __enter__(self) -> AlocityClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AlocityClient(base_url={self.settings.base_url!r}, rate={self.settings.rate_description!r})"

    def server_time(self) -> datetime | None:
        """The API's clock as of now, from the Date header of the latest response (HTTP
        servers send it, the Alocity docs do not promise it: None when none came). One-second
        resolution, rounded down; the time since that response is added on our clock."""
        seen = self._server_date
        if seen is None:
            return None
        try:
            at = parsedate_to_datetime(seen[0])
        except (TypeError, ValueError, IndexError):
            return None
        if at.tzinfo is None:  # "-0000": a UTC time of unknown origin
            at = at.replace(tzinfo=UTC)
        return at.astimezone(UTC) + timedelta(seconds=time.monotonic() - seen[1])

    # -- public calls ----------------------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET `path` (absolute, or relative to the API prefix) and return the envelope's payload."""
        endpoint = _endpoint(path)
        return self._retry.call(endpoint, lambda: self._send("GET", endpoint, params=params))

    def get_page(
        self, path: str, params: dict[str, Any] | None = None, parent: dict[str, Any] | None = None
    ) -> Page:
        """One unpaged call as a `Page` (page_number None). A null payload becomes []."""
        page = self._unpaged(path, params, parent)
        self._count(page)
        return page

    def iter_pages(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        page_size: int | None = None,
        parent: dict[str, Any] | None = None,
    ) -> Iterator[Page]:
        """Pages from pageNumber=1 until an empty page.

        A short page does not end the loop (the live maximum page size is unknown and
        may be capped silently); only an empty one does. An empty listing yields one
        empty page; the terminating empty page of a non-empty listing is not yielded.
        A page identical to the previous one means the server ignores the page
        parameter: `PagingError` instead of an endless loop.
        """
        for page in self._iter_pages(path, params, page_size, parent):
            self._count(page)
            yield page

    # -- internals used by fetch -----------------------------------------------------------

    def _unpaged(
        self,
        path: str,
        params: dict[str, Any] | None,
        parent: dict[str, Any] | None,
        get: Callable[[str, dict[str, Any] | None], Any] | None = None,
    ) -> Page:
        endpoint = _endpoint(path)
        payload = (get or self.get)(endpoint, params)
        items = [] if payload is None else payload
        name = endpoint_name(endpoint)
        return Page(endpoint, dict(params or {}), None, items, parent=parent, endpoint=name)

    def _iter_pages(
        self,
        path: str,
        params: dict[str, Any] | None,
        page_size: int | None,
        parent: dict[str, Any] | None,
        get: Callable[[str, dict[str, Any] | None], Any] | None = None,
    ) -> Iterator[Page]:
        """`get` (default `self.get`) answers each call: fetch passes one that replays a journal."""
        endpoint = _endpoint(path)
        get = get or self.get
        size = page_size or self.settings.page_size
        name = endpoint_name(endpoint)
        number = wire.FIRST_PAGE
        previous: list[Any] | None = None
        while True:
            query = {**(params or {}), wire.PAGE_NUMBER_PARAM: number, wire.PAGE_SIZE_PARAM: size}
            payload = get(endpoint, query)
            if payload is None:
                payload = []
            if not isinstance(payload, list):
                raise MalformedResponse(endpoint, f"page {number}: payload is not an array")
            if not payload:
                if previous is None:
                    yield Page(endpoint, query, number, [], parent=parent, endpoint=name)
                return
            if payload == previous:
                raise PagingError(endpoint, number)
            yield Page(endpoint, query, number, payload, parent=parent, endpoint=name)
            previous = payload
            number += 1

    def _count(self, page: Page) -> None:
        self.stats.add("pages")
        self.stats.add("rows", len(page.rows))

    # -- one request -----------------------------------------------------------------------

    def _login(self) -> str:
        endpoint = wire.TOKEN_PATH
        body = {wire.TOKEN_BODY_FIELD: self.settings.access_key.reveal()}
        payload = self._retry.call(endpoint, lambda: self._send("POST", endpoint, json_body=body, auth=False))
        if not isinstance(payload, str) or not payload.strip():
            raise MalformedResponse(endpoint, "the token payload is not a JWT string")
        return payload.strip()

    def _send(
        self,
        method: str,
        endpoint: str,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        auth: bool = True,
    ) -> Any:
        """One logical request: limiter, token, at most one re-login on 401. Returns the payload."""
        token = self.tokens.current() if auth else None
        logged_in = False
        while True:
            self.stats.add("throttled_seconds", self.limiter.acquire())
            self.stats.add("requests")
            try:
                response = self._http.request(method, endpoint, params, json_body, token)
            except NoResponse as exc:
                raise TransientError(endpoint, exc.reason) from None
            finally:
                self.limiter.hold_if_late()
            date = response.headers.get("Date")
            if date:
                self._server_date = (date, time.monotonic())
            if response.status == 401 and token is not None:
                if logged_in:
                    raise Unauthorized(endpoint)
                token, logged_in = self.tokens.renew(token)
                continue
            return self._payload(response, endpoint)

    def _payload(self, response: Response, endpoint: str) -> Any:
        status = response.status
        if status == 429:
            self.stats.add("responses_429")
            retry_after = _retry_after(response)
            self.limiter.penalize(retry_after)
            raise RateLimited(endpoint, retry_after)
        if status == 404:
            raise EndpointUnavailable(endpoint)
        if status >= 500 or status == 408:
            raise TransientError(endpoint, f"HTTP {status}")
        if status != 200:
            raise HttpStatusError(status, endpoint)
        try:
            envelope = orjson.loads(response.body)  # ~3x faster than the json module
        except orjson.JSONDecodeError:
            # UTF-16, an integer beyond 64 bits, NaN: the standard parser reads more.
            try:
                envelope = json.loads(response.body)
            except ValueError:
                raise MalformedResponse(endpoint, "body is not JSON") from None
        if not isinstance(envelope, dict) or "hasErrors" not in envelope:
            raise MalformedResponse(endpoint, "body is not an Alocity envelope (no hasErrors)")
        self.limiter.record_success()
        if envelope.get("hasErrors"):
            error = _controlled_error(envelope, endpoint)
            if error.code in wire.RETRYABLE_CONTROLLED_CODES:
                raise TransientError(endpoint, f"controlled error {error.code}", cause=error)
            raise error
        return envelope.get("payload")
