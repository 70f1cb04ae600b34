"""Each fault mode, over real HTTP."""

from __future__ import annotations

import json
import time

import pytest
import requests


def test_5xx_rate_and_status(api, sandbox):
    sandbox.admin.set_faults(error_rate=1.0, error_status=503)
    r = api.get("sites")
    assert r.status_code == 503
    sandbox.admin.set_faults(error_rate=0.5, seed=1)
    codes = [api.get("sites").status_code for _ in range(40)]
    assert 5 < codes.count(500) < 35 and codes.count(200) + codes.count(500) == 40
    assert sandbox.admin.stats()["5xx_injected"] == 1 + codes.count(500)
    sandbox.admin.clear_faults()
    assert api.get("sites").status_code == 200


def test_5xx_rate_is_seeded(sandbox_factory, make_api):
    runs = []
    for _ in range(2):
        sb = sandbox_factory()
        api = make_api(sb)
        sb.admin.set_faults(error_rate=0.3, seed=11)
        runs.append([api.get("sites").status_code for _ in range(20)])
    assert runs[0] == runs[1]


def test_per_endpoint_rule(api, sandbox):
    sandbox.admin.set_faults(endpoint="groups", error_rate=1.0)
    assert api.get("groups").status_code == 500
    assert api.get("sites").status_code == 200
    assert set(sandbox.admin.faults()) == {"groups"}


def test_latency(api, sandbox):
    sandbox.admin.set_faults(endpoint="sites", latency_s=0.3)
    t = time.monotonic()
    assert api.get("sites").status_code == 200
    assert time.monotonic() - t >= 0.3


def test_connection_reset(api, sandbox):
    sandbox.admin.set_faults(reset_next=2)
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            requests.get(api.url("sites"), headers={"Authorization": f"Bearer {api.token}"}, timeout=5)
    assert api.get("sites").status_code == 200
    assert sandbox.admin.stats()["resets_injected"] == 2


def test_malformed_json(api, sandbox):
    sandbox.admin.set_faults(malformed_next=1)
    r = api.get("user_page")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    assert api.get("user_page").json()["hasErrors"] is False


@pytest.mark.parametrize(("retry_after", "header"), [(None, None), (0, "0"), (7, "7"), ("default", "1")])
def test_429_burst(api, sandbox, retry_after, header):
    spec = {"burst_429": 2} if retry_after == "default" else {"burst_429": 2, "retry_after": retry_after}
    sandbox.admin.set_faults(**spec)
    for _ in range(2):
        r = api.get("sites")
        assert r.status_code == 429 and r.headers.get("Retry-After") == header
    assert api.get("sites").status_code == 200


def test_token_invalidated_mid_sync(api, sandbox):
    sandbox.admin.set_faults(invalidate_token_after=2)
    assert [api.get("sites").status_code for _ in range(3)] == [200, 200, 401]
    assert api.login().status_code == 200 and api.get("sites").status_code == 200


def test_key_revoked_after_n(api, sandbox):
    sandbox.admin.set_faults(revoke_key_after=1)
    assert api.get("sites").status_code == 200
    assert (
        api.error_code("POST", "token", json={"accessKey": sandbox.access_key})
        == "error_accesskey_is_inactive"
    )
    keys = sandbox.admin.keys()
    assert all(not k["active"] for k in keys)


def test_schema_drift(api, sandbox):
    sandbox.admin.set_faults(
        endpoint="user_page",
        add_field={"badgeColor": "red"},
        drop_field=["email"],
        change_type=["hasEnrolledFace", "firstName"],
    )
    users = api.payload("GET", "user_page")
    assert users and all(u["badgeColor"] == "red" and "email" not in u for u in users)
    assert all(isinstance(u["hasEnrolledFace"], str) and isinstance(u["firstName"], int) for u in users)
    sandbox.admin.set_faults(endpoint="device_settings", change_type="doorOpenTimeout")
    serial = sandbox.admin.ground_truth(table="devices")[0]["serialNumber"]
    assert isinstance(api.payload("GET", "device_settings", serialNumber=serial)["doorOpenTimeout"], str)
    assert "email" in api.payload("GET", "user", userId=users[0]["id"])  # other endpoints untouched


def test_ignore_paging(api, sandbox):
    sandbox.admin.set_faults(ignore_paging=True)
    first = api.payload("GET", "user_page", {"pageNumber": 1, "pageSize": 5})
    assert api.payload("GET", "user_page", {"pageNumber": 2, "pageSize": 5}) == first
    assert api.payload("GET", "user_page", {"page": 3, "pageSize": 5}) == first


def test_bad_fault_spec_rejected(sandbox):
    with pytest.raises(RuntimeError, match="unknown fault key"):
        sandbox.admin.set_faults(explode=True)
    with pytest.raises(RuntimeError, match="unknown endpoint"):
        sandbox.admin.set_faults(endpoint="nope", error_rate=1.0)
    with pytest.raises(RuntimeError, match="needs"):
        sandbox.admin.set_faults(burst_429="many")
