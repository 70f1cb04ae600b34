"""Behaviour the sandbox cannot provoke, against a tiny scripted HTTP server (real HTTP, no mocks)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest

from alocity_etl.client import (
    AlocityClient,
    ClientSettings,
    ControlledError,
    MalformedResponse,
    RetriesExhausted,
)
from alocity_etl.client.api import USER_AGENT


def envelope(payload: object = None, code: str | None = None) -> dict:
    if code is None:
        return {"applicationEvents": [], "payload": payload, "hasErrors": False}
    event = {"type": "Error", "code": code, "message": "scripted", "parameter": None}
    return {"applicationEvents": [event], "payload": None, "hasErrors": True}


class Script(BaseHTTPRequestHandler):
    """Answers GETs from `replies` in order (the last one repeats); records request headers."""

    replies: list[dict] = []
    seen: list[dict[str, str]] = []
    set_cookie: str | None = None  # sent with every GET reply when set (e.g. a load balancer's)

    def _send(self, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        if self.command == "GET" and type(self).set_cookie:
            self.send_header("set-cookie", type(self).set_cookie)
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        now = int(time.time())
        self._send(envelope(jwt.encode({"iat": now, "exp": now + 600}, "k" * 32, algorithm="HS256")))

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        replies = type(self).replies
        self._send(replies.pop(0) if len(replies) > 1 else replies[0])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[tuple[type[Script], AlocityClient]]:
    handler = type("S", (Script,), {"replies": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = ClientSettings(
        access_key="alk_stub",
        base_url=f"http://127.0.0.1:{server.server_port}",
        cache_dir=tmp_path,
        max_attempts=3,
        retry_backoff_s=0.01,
    )
    client = AlocityClient(settings)
    yield handler, client
    client.close()
    server.shutdown()
    server.server_close()


def test_failed_system_operation_is_retried(scripted) -> None:
    handler, client = scripted
    handler.replies = [envelope(code="failed_system_operation")] * 2 + [envelope([1, 2])]
    assert client.get("groups") == [1, 2]
    assert client.stats.retries == 2


def test_failed_system_operation_persisting_reports_the_controlled_error(scripted) -> None:
    handler, client = scripted
    handler.replies = [envelope(code="failed_system_operation")]
    with pytest.raises(RetriesExhausted) as info:
        client.get("groups")
    assert isinstance(info.value.last_error, ControlledError)
    assert info.value.last_error.code == "failed_system_operation" and info.value.attempts == 3


def test_other_controlled_errors_are_not_retried(scripted) -> None:
    handler, client = scripted
    handler.replies = [envelope(code="error_group_not_found"), envelope([1])]
    with pytest.raises(ControlledError, match="error_group_not_found"):
        client.get("groups")
    assert client.stats.retries == 0


def test_headers_sent(scripted) -> None:
    handler, client = scripted
    handler.replies = [envelope([])]
    client.get("groups")
    headers = {k.lower(): v for k, v in handler.seen[0].items()}
    assert headers["accept"] == "application/json"
    assert headers["user-agent"] == USER_AGENT and USER_AGENT.startswith("alocity-etl/")
    assert headers["authorization"].startswith("Bearer ")


def test_cookies_set_by_the_server_are_sent_back(scripted) -> None:
    # The transport is urllib3, which keeps no cookies itself: a load balancer's stickiness
    # cookie must still ride along on the next call.
    handler, client = scripted
    handler.replies = [envelope([])]
    handler.set_cookie = "AWSALB=sticky-1; Path=/"
    client.get("groups")
    client.get("groups", params={"pageNumber": 2})
    first, second = ({k.lower(): v for k, v in h.items()} for h in handler.seen)
    assert "cookie" not in first
    assert second["cookie"] == "AWSALB=sticky-1"


def test_non_envelope_json_is_malformed(scripted) -> None:
    handler, client = scripted
    handler.replies = [{"data": []}]
    with pytest.raises(MalformedResponse, match="not an Alocity envelope"):
        client.get("groups")
