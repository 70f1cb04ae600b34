"""Determinism, simulated days, ground truth history, and the large preset."""

from __future__ import annotations

import os
import time

import pytest

from alocity_etl.sandbox import Sandbox, SandboxConfig


def test_same_seed_same_ground_truth(sandbox_factory):
    a, b = sandbox_factory(seed=3), sandbox_factory(seed=3)
    assert a.admin.ground_truth() == b.admin.ground_truth()
    a.admin.simulate(2)
    b.admin.simulate(2)
    assert a.admin.ground_truth(day=2) == b.admin.ground_truth(day=2)
    c = sandbox_factory(seed=4)
    assert c.admin.ground_truth(table="users") != a.admin.ground_truth(day=0, table="users")


def test_different_start_moves_data(sandbox_factory):
    a = sandbox_factory(start="2026-11-01T00:00:00Z")
    b = sandbox_factory(start="2026-12-01T00:00:00Z")
    la, lb = a.admin.ground_truth(table="access_logs"), b.admin.ground_truth(table="access_logs")
    assert la[0]["createdAt"] >= "2026-10-29" and la[-1]["createdAt"] < "2026-11-01"
    assert lb[0]["createdAt"] >= "2026-11-28" and lb[-1]["createdAt"] < "2026-12-01"


def test_simulate_days(api, sandbox):
    day0 = sandbox.admin.ground_truth()
    clock0 = sandbox.admin.clock()
    sandbox.admin.simulate(3)
    assert (sandbox.admin.clock() - clock0).total_seconds() >= 3 * 86400
    now = sandbox.admin.ground_truth()
    assert sandbox.admin.ground_truth(day=0) == day0
    assert sandbox.admin.ground_truth(day=3) == now
    assert now != day0
    assert len(now["access_logs"]) > len(day0["access_logs"])
    assert now["access_logs"][-1]["createdAt"] >= "2026-11-02"
    # Changes are visible through the API too (a fresh token: the clock moved 3 days).
    api.login()
    assert api.payload("GET", "user_page", {"pageSize": 500}) == now["users"]
    assert api.payload("GET", "access_log_page", {"pageSize": 500, "from": "2026-11-01T00:00:00Z"}) == [
        x for x in now["access_logs"] if x["createdAt"] >= "2026-11-01"
    ]
    ids0, ids3 = {u["id"] for u in day0["users"]}, {u["id"] for u in now["users"]}
    assert ids3 - ids0  # new users appeared
    for k in (0, 1, 2, 3):
        assert set(sandbox.admin.ground_truth(day=k)) == set(day0)
    with pytest.raises(RuntimeError, match="404"):
        sandbox.admin.ground_truth(day=9)


def test_ground_truth_access_log_filters(sandbox):
    logs = sandbox.admin.ground_truth(table="access_logs")
    t1, t2 = logs[20]["createdAt"], logs[60]["createdAt"]
    sub = sandbox.admin.ground_truth(table="access_logs", from_=t1, to=t2)
    assert sub == [x for x in logs if t1 <= x["createdAt"] < t2]


def test_large_preset_generation():
    if not os.environ.get("ALOCITY_SANDBOX_LARGE"):
        pytest.skip("set ALOCITY_SANDBOX_LARGE=1 to generate the 1M-event preset")
    t = time.monotonic()
    sb = Sandbox(SandboxConfig(preset="large", start="2026-11-01T00:00:00Z"))
    assert time.monotonic() - t < 30
    acc = sb.state.account
    assert len(acc.users) == 10_000 and 900_000 < len(acc.logs) < 1_100_000
    rows = sb.state.ground_truth(table="access_logs", from_=None, to=None)
    assert len(rows) == len(acc.logs)


def test_serve_shuts_down_cleanly(sandbox_factory):
    import socket
    import threading

    before = set(threading.enumerate())
    with Sandbox(SandboxConfig(preset="tiny", start="2026-11-01T00:00:00Z")).serve(port=0) as sb:
        port = sb.port
        assert sb.base_url == f"http://127.0.0.1:{port}"
        assert sb.admin.info()["preset"] == "tiny"
    assert not [t for t in threading.enumerate() if t not in before and t.is_alive()]
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))  # nobody listens any more
