"""What the client's transport (urllib3, not requests) keeps of requests' services: the proxy
from the environment and NO_PROXY, the CA bundle for HTTPS, and no silent redirect. Real HTTP
and HTTPS on 127.0.0.1 only."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import trustme

from alocity_etl.client import HttpStatusError, RetriesExhausted
from alocity_etl.sandbox import RunningSandbox
from tests.client.conftest import MakeClient


class Recorder(BaseHTTPRequestHandler):
    """Answers every call itself (a token for POST, an envelope for GET); records request lines.
    As a proxy it sees absolute URLs; as a redirecting server it answers GET with `status`."""

    lines: list[str] = []
    status = 200

    def _reply(self, payload: object) -> None:
        raw = json.dumps({"applicationEvents": [], "payload": payload, "hasErrors": False}).encode()
        self.send_response(self.status if self.command == "GET" else 200)
        if self.status in (301, 302, 307):
            self.send_header("location", "/elsewhere")
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        type(self).lines.append(f"POST {self.path}")
        self.rfile.read(int(self.headers.get("content-length", 0)))
        now = int(time.time())
        self._reply(jwt.encode({"iat": now, "exp": now + 600}, "k" * 32, algorithm="HS256"))

    def do_GET(self) -> None:
        type(self).lines.append(f"GET {self.path}")
        self._reply(["from the recorder"])

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[tuple[type[Recorder], str]]:
    """A fresh Recorder served on 127.0.0.1 (HTTPS with `tls`): (handler, base_url)."""
    handler = type("R", (Recorder,), {"lines": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield handler, f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def recorder() -> Iterator[tuple[type[Recorder], str]]:
    with serving() as served:
        yield served


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def proxy(recorder, no_proxy_env: pytest.MonkeyPatch) -> type[Recorder]:
    """The recorder as the environment's HTTP proxy."""
    handler, url = recorder
    no_proxy_env.setenv("HTTP_PROXY", url)
    return handler


def test_calls_go_through_the_proxy_the_environment_names(
    proxy: type[Recorder], client_sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    client = make_client(client_sandbox)
    assert client.get("groups") == ["from the recorder"]
    # A forward proxy receives the absolute URL of the API, the token call included.
    api = client_sandbox.base_url
    assert proxy.lines == [
        f"POST {api}/v1/integration-management/token",
        f"GET {api}/v1/integration-management/groups",
    ]


def test_no_proxy_exempts_the_api_host(
    proxy: type[Recorder], client_sandbox: RunningSandbox, make_client: MakeClient, monkeypatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "example.invalid,127.0.0.1")
    groups = make_client(client_sandbox).get("groups")
    assert isinstance(groups, list) and groups and "from the recorder" not in groups
    assert proxy.lines == []


def test_a_redirect_is_reported_not_followed(
    recorder, no_proxy_env, client_sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    handler, server = recorder
    handler.status = 302
    client = make_client(client_sandbox, base_url=server)
    with pytest.raises(HttpStatusError) as info:
        client.get("groups")
    assert info.value.status == 302
    assert handler.lines[-1] == "GET /v1/integration-management/groups"  # never GET /elsewhere


@pytest.fixture
def tls_recorder(tmp_path) -> Iterator[tuple[type[Recorder], str, str]]:
    """The recorder over HTTPS with a certificate for 127.0.0.1 from a throwaway CA (trustme).
    Yields (handler, base_url, path of the CA's PEM)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    with serving(tls=context) as (handler, url):
        yield handler, url, str(ca_pem)


def test_https_is_verified_against_the_ca_bundle_the_environment_names(
    tls_recorder, no_proxy_env, client_sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    handler, server, ca_pem = tls_recorder
    no_proxy_env.setenv("REQUESTS_CA_BUNDLE", ca_pem)
    client = make_client(client_sandbox, base_url=server)
    assert client.get("groups") == ["from the recorder"]
    assert handler.lines[-1] == "GET /v1/integration-management/groups"


def test_https_with_an_unknown_ca_is_refused(
    tls_recorder, no_proxy_env, client_sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    handler, server, _ = tls_recorder
    no_proxy_env.delenv("REQUESTS_CA_BUNDLE", raising=False)
    no_proxy_env.delenv("CURL_CA_BUNDLE", raising=False)  # certifi's bundle: no throwaway CA in it
    client = make_client(client_sandbox, base_url=server, max_attempts=2)
    with pytest.raises(RetriesExhausted, match="TLS certificate problem"):
        client.get("groups")
    assert handler.lines == []  # not one request got through
