"""HTTP for the client: one keep-alive connection pool to the API host, on urllib3.

Why not `requests` (which is urllib3 plus sessions, cookie jars, redirects and its own
Response): a sync is CPU-bound on its one-per-user detail calls, and requests' layers cost
~0.55 ms of CPU a call. Measured on the sandbox, one detail call took 1.05 ms of client CPU
through requests and 0.50 ms through urllib3 (benchmarks/throughput.py shows the effect on a
whole sync). What requests did for this client is kept here: the proxy from the environment
(honouring NO_PROXY), the CA bundle (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, else certifi's),
gzip, cookies the server sets (a load balancer's stickiness), a kept-alive connection per
thread in flight, separate connect and read timeouts. Redirects are not followed: the API
does not redirect, and a 3xx is reported as what it is.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import certifi
import orjson
import urllib3
from urllib3.exceptions import (
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ProxyError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError


class NoResponse(Exception):
    """The request got no HTTP response. `reason` is short and safe to log: no URL, no header."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    body: bytes


class _CookieSource:
    """What `CookieJar.extract_cookies` reads from a response: `info().get_all(name, default)`."""

    def __init__(self, headers: urllib3.HTTPHeaderDict) -> None:
        self._headers = headers

    def info(self) -> _CookieSource:
        return self

    def get_all(self, name: str, default: list[str]) -> list[str]:
        return self._headers.getlist(name) or default


def environ_proxy(base_url: str) -> str | None:
    """The proxy the environment sets for base_url's scheme, None if NO_PROXY exempts its host."""
    parts = urlsplit(base_url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def ca_bundle() -> dict[str, str]:
    """urllib3's CA arguments: the bundle requests would use (file or directory)."""
    path = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    return {"ca_cert_dir": path} if os.path.isdir(path) else {"ca_certs": path}


def _reason(exc: Exception) -> str:
    """What went wrong, in a few words (the messages hold host and port, never a header)."""
    if isinstance(exc, NameResolutionError):
        return "host name not found"
    if isinstance(exc, NewConnectionError):  # before the timeouts: it subclasses ConnectTimeoutError
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    if isinstance(exc, Urllib3TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, SSLError):
        return "TLS certificate problem"
    if isinstance(exc, ProxyError):
        return "proxy error"
    text = f"{exc!r} {exc.__context__!r}".lower()
    for needle, reason in (
        ("remotedisconnected", "connection closed without a response"),
        ("incompleteread", "connection closed mid-response"),
        ("reset", "connection reset"),
        ("aborted", "connection reset"),
        ("brokenpipe", "connection reset"),
    ):
        if needle in text:
            return reason
    return f"connection error ({type(exc).__name__})"


class Transport:
    """Thread-safe: urllib3's pool hands each thread its own connection."""

    def __init__(
        self,
        base_url: str,
        connect_timeout_s: float,
        read_timeout_s: float,
        pool_size: int,
        user_agent: str,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s)
        options: dict[str, Any] = {"maxsize": pool_size, "retries": False, **ca_bundle()}
        proxy = environ_proxy(self.base_url)
        self._pool = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        self._headers = {
            **urllib3.make_headers(accept_encoding=True, user_agent=user_agent),
            "Accept": "application/json",
        }
        self._cookies = http.cookiejar.CookieJar()  # thread-safe; the same jar requests keeps

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        token: str | None = None,
    ) -> Response:
        """One HTTP exchange; `NoResponse` if there was none (refused, reset, timed out)."""
        url = self.base_url + path
        if params:
            url += "?" + urlencode(params, doseq=True)
        headers = dict(self._headers)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if len(self._cookies):
            cookie = self._cookie_header(url)
            if cookie:
                headers["Cookie"] = cookie
        body = None
        if json_body is not None:
            body = orjson.dumps(json_body)
            headers["Content-Type"] = "application/json"
        try:
            r = self._pool.urlopen(
                method, url, body=body, headers=headers, timeout=self._timeout, redirect=False
            )
        except (HTTPError, OSError, http.client.HTTPException) as exc:
            raise NoResponse(_reason(exc)) from None  # from None: the chain holds the request
        if "set-cookie" in r.headers:
            self._cookies.extract_cookies(_CookieSource(r.headers), urllib.request.Request(url))  # type: ignore[arg-type]
        return Response(r.status, r.headers, r.data)

    def _cookie_header(self, url: str) -> str | None:
        request = urllib.request.Request(url)
        self._cookies.add_cookie_header(request)
        return request.get_header("Cookie")

    def close(self) -> None:
        self._pool.clear()
