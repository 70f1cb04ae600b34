"""The client's shared state in PostgreSQL (ALOCITY_STATE_URL), as on two machines.

Every client here has its own cache dir, so nothing but the database can coordinate them:
one JWT per account, one request budget, one 429 pause. The server is the session's
throwaway PostgreSQL (tests/support/postgres.py); the API is the sandbox over HTTP.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alocity_etl.catalog import endpoint_path
from alocity_etl.client import AlocityClient, ClientSettings
from alocity_etl.client.errors import StateStoreUnavailable
from alocity_etl.client.ratelimit import SharedRateLimiter
from alocity_etl.settings import Settings, SettingsError
from tests.support.budget_worker import spend_budget
from tests.support.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
LIMIT, WINDOW, SECONDS = 20, 2.0, 6.0
PASSWORD = "pg-Pa55word-never-shown"


def _settings(sb: Any, cache: Path, state_url: str, **overrides: Any) -> ClientSettings:
    kwargs: dict[str, Any] = {
        "access_key": sb.access_key,
        "base_url": sb.base_url,
        "rate_limit": LIMIT,
        "rate_window_s": WINDOW,
        "cache_dir": cache,
        "state_url": state_url,
        "connect_timeout_s": 2.0,
        **overrides,
    }
    return ClientSettings(**kwargs)


def _spawn(target: Any, settings: list[ClientSettings], *shared: Any) -> list[Any]:
    ctx = mp.get_context("spawn")  # a clean interpreter per "machine"
    procs = [ctx.Process(target=target, args=(s, *shared)) for s in settings]
    for p in procs:
        p.start()
    return procs


@pytest.mark.slow
def test_two_machines_share_one_budget_and_one_jwt(make_sandbox, postgres_url: str, tmp_path: Path) -> None:
    sb = make_sandbox(rate_limit=f"{LIMIT}/{WINDOW:g}s")
    caches = [tmp_path / "machine-a", tmp_path / "machine-b"]
    ctx = mp.get_context("spawn")
    ready, go, start_at, out = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    machines = [_settings(sb, c, postgres_url) for c in caches]
    procs = _spawn(spend_budget, machines, False, SECONDS, ready, go, start_at, out)
    for _ in procs:
        ready.get(timeout=60)  # both connected to PostgreSQL, neither has sent a request
    assert sb.admin.stats()["requests_total"] == 0
    start_at.value = time.time()
    go.set()
    stats = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all("error" not in s for s in stats), stats
    server = sb.admin.stats()
    issued = sb.admin.tokens()  # JWTs: compared, never shown in an assertion message
    assert server["responses_429"] == 0 and sum(s["responses_429"] for s in stats) == 0
    assert (len(issued), server["tokens_issued"]) == (1, 1)  # one JWT for both machines
    assert sum(s["token_refreshes"] for s in stats) == 1
    assert all(s["requests"] > 5 for s in stats)  # both really worked
    fraction = server["requests_total"] / (SECONDS / WINDOW) / LIMIT
    assert fraction >= 0.9, fraction  # the shared budget was used, not idled under
    # Only PostgreSQL carried the state: no file store in either cache dir, the JWT in its table.
    assert not any(c.exists() and any(c.iterdir()) for c in caches)
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT account, token FROM alocity_state.tokens").fetchall()
    stored_is_issued = [token for _, token in rows] == issued
    assert stored_is_issued, "alocity_state.tokens does not hold the one JWT issued"
    assert all(sb.access_key not in account for account, _ in rows)


def _remint_worker(settings: ClientSettings, ready: Any, go: Any, stop_at: Any, out: Any) -> None:
    try:
        with AlocityClient(settings) as client:
            client.tokens.current()
            ready.put(os.getpid())
            go.wait(30)
            while time.time() < stop_at.value:
                client.get(endpoint_path("sites"))
            out.put(client.stats.as_dict())
    except Exception as exc:
        out.put({"error": f"{type(exc).__name__}: {exc}"})


@pytest.mark.slow
def test_an_invalidated_jwt_is_reminted_once_not_by_both(
    make_sandbox, postgres_url: str, tmp_path: Path
) -> None:
    sb = make_sandbox()
    # A slow token call: a client that logs in without the lock would do so while the other does.
    sb.admin.set_faults(endpoint="token", latency_s=0.3)
    unlimited = {"rate_limit": 10_000, "rate_window_s": 1.0}
    settings = [_settings(sb, tmp_path / m, postgres_url, **unlimited) for m in ("a", "b")]
    ctx = mp.get_context("spawn")
    ready, go, stop_at, out = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    procs = _spawn(_remint_worker, settings, ready, go, stop_at, out)
    for _ in procs:
        ready.get(timeout=60)
    assert sb.admin.stats()["tokens_issued"] == 1  # the first login, shared
    stop_at.value = time.time() + 2.5
    go.set()
    time.sleep(0.8)  # both are sending with the shared token
    sb.admin.invalidate_tokens()  # as if another client of the key had logged in
    stats = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all("error" not in s for s in stats), stats
    server = sb.admin.stats()
    assert server["responses_401"] >= 2  # both machines met the dead token...
    assert server["tokens_issued"] == 2  # ...and exactly one new JWT was minted for them
    assert sum(s["token_refreshes"] for s in stats) == 2
    assert all(s["requests"] > 20 for s in stats)


def test_a_429_pauses_every_machine_then_spaces_requests(
    client_sandbox, postgres_url: str, tmp_path: Path
) -> None:
    a = SharedRateLimiter(_settings(client_sandbox, tmp_path / "a", postgres_url))
    b = SharedRateLimiter(_settings(client_sandbox, tmp_path / "b", postgres_url))
    try:
        a.acquire()
        pause = a.penalize(retry_after=0.6)
        assert 0.55 <= pause <= 0.65
        assert b.acquire() >= 0.5  # the other machine waited out the server's Retry-After
        stamps = []
        for lim in (a, b, a, b):  # then even spacing, whoever sends
            lim.acquire()
            stamps.append(time.time())
        spacing = (WINDOW + a.settings.margin_s) / LIMIT
        gaps = [y - x for x, y in itertools.pairwise(stamps)]
        assert all(g >= spacing * 0.9 for g in gaps), gaps
        with psycopg.connect(postgres_url) as conn:
            (strikes,) = conn.execute("SELECT strikes FROM alocity_state.rate_pauses").fetchone()
        assert strikes == 1
    finally:
        a.close()
        b.close()


def test_unreachable_postgres_fails_at_start_in_one_line_before_any_request(
    client_sandbox, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://alocity:{PASSWORD}@127.0.0.1:{port}/alocity"
    expected = (
        f"ALOCITY_STATE_URL: cannot reach PostgreSQL at 127.0.0.1:{port}/alocity (connection refused); "
        "start it or unset ALOCITY_STATE_URL to use local files"
    )
    with pytest.raises(StateStoreUnavailable) as err:
        AlocityClient(_settings(client_sandbox, tmp_path / "cache", url))
    assert str(err.value) == expected
    # The command line says the same, once, and exits 1.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALOCITY_", "DAGSTER_"))}
    env.update(
        ALOCITY_BASE_URL=client_sandbox.base_url,
        ALOCITY_ACCESS_KEY=client_sandbox.access_key,
        ALOCITY_CACHE_DIR=str(tmp_path / "cache"),
        ALOCITY_STATE_URL=url,
        PYTHONPATH=str(REPO),
    )
    check = [sys.executable, "-m", "alocity_etl.cli", "check"]
    result = subprocess.run(check, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"alocity-etl check: {expected}"]
    assert PASSWORD not in result.stdout + result.stderr
    assert client_sandbox.admin.stats()["requests_total"] == 0  # no token call, no request
    assert not (tmp_path / "cache").exists()  # and no silent fallback to local files


def test_a_url_that_is_not_postgresql_is_refused_in_one_line() -> None:
    env = {"ALOCITY_ACCESS_KEY": "alk_x", "ALOCITY_STATE_URL": f"mysql://u:{PASSWORD}@db:3306/x"}
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    message = str(err.value)
    assert message.startswith("ALOCITY_STATE_URL=") and "\n" not in message
    assert "postgresql://USER@HOST:PORT/DB" in message and "unset ALOCITY_STATE_URL" in message
    assert PASSWORD not in message
