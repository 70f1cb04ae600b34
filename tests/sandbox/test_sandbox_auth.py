"""Access keys, tokens and the account rate limit."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import requests

from alocity_etl.sandbox import parse_rate_limit

START = datetime(2026, 11, 1, tzinfo=UTC)


def test_new_token_invalidates_previous(api, sandbox):
    first = api.token
    assert api.get("sites").status_code == 200
    assert api.login().status_code == 200 and api.token != first
    assert api.call("GET", "sites", token=first).status_code == 401
    assert api.get("sites").status_code == 200
    sandbox.admin.invalidate_tokens()
    assert api.get("sites").status_code == 401


def test_jwt_exp_follows_sandbox_clock(sandbox_factory, make_api):
    sb = sandbox_factory(token_lifetime_s=60, freeze_clock=True)
    api = make_api(sb)
    claims = jwt.decode(api.token, options={"verify_signature": False})
    assert claims["exp"] == int(START.timestamp()) + 60
    assert jwt.get_unverified_header(api.token)["alg"] == "HS256"
    sb.admin.advance(59)
    assert api.get("sites").status_code == 200
    sb.admin.advance(2)
    assert api.get("sites").status_code == 401
    assert api.login().status_code == 200 and api.get("sites").status_code == 200


def test_key_near_expiry_renews(sandbox_factory, make_api):
    sb = sandbox_factory(access_key="alk_fixed_key", key_created_at=START - timedelta(days=340))
    initial = sb.admin.keys()
    assert [k["accessKey"] for k in initial] == ["alk_fixed_key"]
    api = make_api(sb, login=False)
    assert api.login("alk_fixed_key").status_code == 200 and api.token
    keys = sb.admin.keys()
    assert len(keys) == 2 and keys[1]["origin"] == "renewal" and keys[1]["usable"]
    assert keys[0]["accessKey"] == "alk_fixed_key" and keys[0]["usable"]  # still works until it expires
    assert sb.access_key == keys[1]["accessKey"]
    api.login("alk_fixed_key")
    assert len(sb.admin.keys()) == 2  # one renewal, not one per use
    assert api.login(keys[1]["accessKey"]).status_code == 200 and api.get("sites").status_code == 200


def test_key_far_from_expiry_does_not_renew(sandbox_factory, make_api):
    sb = sandbox_factory(key_created_at=START - timedelta(days=300))
    make_api(sb)
    assert len(sb.admin.keys()) == 1


def test_expired_key_is_inactive(sandbox_factory, make_api):
    sb = sandbox_factory(access_key="alk_old", key_created_at=START - timedelta(days=366))
    api = make_api(sb, login=False)
    assert api.error_code("POST", "token", json={"accessKey": "alk_old"}) == "error_accesskey_is_inactive"


def test_key_expires_when_clock_moves(sandbox_factory, make_api):
    sb = sandbox_factory(access_key="alk_k", key_created_at=START - timedelta(days=364))
    api = make_api(sb, login=False)
    assert api.login("alk_k").status_code == 200
    sb.admin.set_clock(START + timedelta(days=2))
    assert api.error_code("POST", "token", json={"accessKey": "alk_k"}) == "error_accesskey_is_inactive"


def test_reissue_and_revoke(api, sandbox):
    old = sandbox.access_key
    new = sandbox.admin.reissue()
    assert new != old and sandbox.access_key == new
    assert api.error_code("POST", "token", json={"accessKey": old}) == "error_accesskey_is_inactive"
    assert api.login(new).status_code == 200 and api.token
    keys = sandbox.admin.keys()
    assert [k["active"] for k in keys] == [False, True] and keys[1]["origin"] == "reissue"
    sandbox.admin.revoke()
    assert api.error_code("POST", "token", json={"accessKey": new}) == "error_accesskey_is_inactive"


def test_rate_limit_429_with_retry_after(sandbox_factory, make_api):
    sb = sandbox_factory(rate_limit="5/1s")
    api = make_api(sb)  # the token call counts: 4 left
    codes = [api.get("sites").status_code for _ in range(4)]
    assert codes == [200] * 4
    r = api.get("sites")
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert requests.get(sb.base_url + "/_sandbox/stats", timeout=5).status_code == 200  # admin is exempt
    stats = sb.admin.stats()
    assert stats["rate_limited"] == 1 and stats["responses_429"] == 1 and stats["requests_total"] == 6
    time.sleep(1.05)
    assert api.get("sites").status_code == 200


def test_rate_limit_shared_by_all_connections(sandbox_factory, make_api):
    sb = sandbox_factory(rate_limit="3/60s")
    a = make_api(sb)
    b = make_api(sb, login=False)
    assert a.get("sites").status_code == 200
    assert b.login().status_code == 200
    r = requests.get(a.url("sites"), headers={"Authorization": f"Bearer {b.token}"}, timeout=5)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("100/60s", (100, 60.0)),
        ("20/2s", (20, 2.0)),
        ("100/1m", (100, 60.0)),
        ("5/1", (5, 1.0)),
        ("none", None),
        ("0", None),
        (None, None),
        ("10/500ms", (10, 0.5)),
    ],
)
def test_parse_rate_limit(spec, expected):
    assert parse_rate_limit(spec) == expected


@pytest.mark.parametrize("spec", ["fast", "10", "10/", "/5s", "10/5x"])
def test_parse_rate_limit_rejects(spec):
    with pytest.raises(ValueError, match="N/WINDOW"):
        parse_rate_limit(spec)


def test_any_key_text_is_a_controlled_error(api):
    # compare_digest refuses non-ASCII str: a client's odd key must not turn into a 500.
    for key in ("clé-ünïcode", "", 42, None):
        assert api.error_code("POST", "token", json={"accessKey": key}) == "error_accesskey_not_found"
