"""Token life over HTTP: refresh at exp, one re-login when the token is killed, shared across clients."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

from alocity_etl.catalog import endpoint_path
from alocity_etl.client import AlocityClient, ClientSettings, Unauthorized

USERS = endpoint_path("user_page")
GROUPS = endpoint_path("groups")


def truth_ids(sb) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(u["id"] for u in sb.admin.ground_truth(table="users"))


def test_refresh_before_exp(make_sandbox, make_client) -> None:
    sb = make_sandbox(token_lifetime_s=3)
    client = make_client(sb)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:  # a call every 0.25 s across more than one token lifetime
        client.get(GROUPS)
        time.sleep(0.25)
    stats = sb.admin.stats()
    assert stats.get("responses_401", 0) == 0  # refreshed before the server refused anything
    assert stats["tokens_issued"] >= 2
    assert client.stats.token_refreshes == stats["tokens_issued"]


def test_token_killed_mid_paging_one_relogin_no_page_lost(client_sandbox, make_client) -> None:
    sb = client_sandbox
    client = make_client(sb, page_size=3)
    client.get(GROUPS)  # log in
    sb.admin.reset_stats()
    sb.admin.set_faults(endpoint="user_page", invalidate_token_after=3)  # killed while paging
    pages = list(client.iter_pages(USERS))
    got = [i["id"] for p in pages for i in p.items]
    assert len(got) == len(set(got)) and sorted(got) == truth_ids(sb)
    assert [p.page_number for p in pages] == list(range(1, 8))
    stats = sb.admin.stats()
    assert stats["tokens_invalidated"] == 1 and stats["responses_401"] == 1
    assert stats["tokens_issued"] == 1  # exactly one re-login
    assert client.stats.token_refreshes == 2  # the first login and the re-login


def test_token_killed_by_a_foreign_client_mid_paging(client_sandbox, make_client) -> None:
    """Another tool (its own cache) logs in with the same key: our token dies; we log in once."""
    sb = client_sandbox
    ours = make_client(sb, page_size=3)
    foreign = make_client(sb, cache="foreign-cache")
    pages = ours.iter_pages(USERS)
    got = [i["id"] for i in next(pages).items]
    foreign.get(GROUPS)  # mints a new token: ours is dead now
    sb.admin.reset_stats()
    got += [i["id"] for p in pages for i in p.items]
    assert sorted(got) == truth_ids(sb) and len(got) == len(set(got))
    assert sb.admin.stats()["tokens_issued"] == 1
    assert ours.stats.token_refreshes == 2


def test_clients_sharing_the_cache_reuse_each_others_token(client_sandbox, make_client) -> None:
    sb = client_sandbox
    a = make_client(sb)
    b = make_client(sb)  # same cache dir: as two Dagster step processes would be
    a.get(GROUPS)
    b.get(GROUPS)
    assert sb.admin.stats()["tokens_issued"] == 1
    # A token killed under both: one re-logs in, the other reuses it (minting again would kill it).
    sb.admin.invalidate_tokens()
    a.get(GROUPS)
    b.get(GROUPS)
    stats = sb.admin.stats()
    assert stats["tokens_issued"] == 2
    assert a.stats.token_refreshes + b.stats.token_refreshes == 2


class _AlwaysUnauthorized(BaseHTTPRequestHandler):
    """A server that issues tokens but refuses every one of them: the worst case for a 401 loop."""

    token_requests = 0

    def do_POST(self) -> None:  # the token call
        type(self).token_requests += 1
        self.rfile.read(int(self.headers.get("content-length", 0)))
        now = int(time.time())
        token = jwt.encode({"iat": now, "exp": now + 600}, "x" * 32, algorithm="HS256")
        body = json.dumps({"applicationEvents": [], "payload": token, "hasErrors": False}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_second_401_after_fresh_login_is_an_error_not_a_loop(tmp_path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysUnauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = ClientSettings(
            access_key="alk_x", base_url=f"http://127.0.0.1:{server.server_port}", cache_dir=tmp_path
        )
        with AlocityClient(settings) as client, pytest.raises(Unauthorized, match="groups"):
            client.get(GROUPS)
        assert _AlwaysUnauthorized.token_requests == 2  # the first login and ONE re-login
        assert client.stats.requests == 4  # login, GET (401), login, GET (401): then stop
    finally:
        server.shutdown()
        server.server_close()
