"""Retries against injected faults: 429 bursts, 5xx, timeouts, resets, persisting faults, malformed JSON."""

from __future__ import annotations

import threading
import time

import pytest

from alocity_etl.catalog import endpoint_path
from alocity_etl.client import MalformedResponse, RetriesExhausted

GROUPS = endpoint_path("groups")


def test_429_burst_with_retry_after_pauses_then_succeeds(client_sandbox, make_client) -> None:
    sb = client_sandbox
    client = make_client(sb)
    client.get(GROUPS)
    sb.admin.set_faults(endpoint="groups", burst_429=2, retry_after=1)
    started = time.monotonic()
    assert len(client.get(GROUPS)) == 3
    elapsed = time.monotonic() - started
    assert client.stats.responses_429 == 2
    assert elapsed >= 1.9  # Retry-After honoured twice
    assert client.stats.throttled_seconds >= 1.9
    assert client.stats.retries == 2


@pytest.mark.parametrize("retry_after", [None, 0])
def test_429_burst_without_hint_backs_off(client_sandbox, make_client, retry_after) -> None:
    sb = client_sandbox
    client = make_client(sb, rate_limit=50, rate_window_s=2.0)  # backoff base = a tenth of the window
    client.get(GROUPS)
    sb.admin.set_faults(endpoint="groups", burst_429=3, retry_after=retry_after)
    started = time.monotonic()
    assert len(client.get(GROUPS)) == 3
    elapsed = time.monotonic() - started
    assert client.stats.responses_429 == 3
    assert 0.25 + 0.5 + 1.0 <= elapsed < 5  # 0.25, 0.5, 1 s (+ jitter): exponential, bounded


@pytest.mark.parametrize("limited", [True, False], ids=["limited", "no-limit"])
def test_429_pause_is_shared_by_clients_of_the_account(
    client_sandbox, make_client, tmp_path, limited
) -> None:
    sb = client_sandbox
    overrides = {} if limited else {"rate_limit": None}  # ALOCITY_RATE_LIMIT=none: still paused
    a, b = make_client(sb, **overrides), make_client(sb, **overrides)
    for _ in range(1 if limited else 30):
        a.get(GROUPS)
    # Without a limit no per-request log is kept.
    assert bool(list((tmp_path / "cache").glob("ratelimit-*.sqlite"))) is limited
    sb.admin.set_faults(endpoint="groups", burst_429=1, retry_after=1)
    a_thread = threading.Thread(target=a.get, args=(GROUPS,))
    a_thread.start()
    time.sleep(0.3)  # a got its 429 and paused the account
    started = time.monotonic()
    b.get(endpoint_path("sites"))
    assert time.monotonic() - started >= 0.5  # b waited for a's pause
    a_thread.join()
    assert a.stats.responses_429 == 1
    assert b.stats.throttled_seconds >= 0.5


def test_5xx_retried_then_succeeds(client_sandbox, make_client) -> None:
    sb = client_sandbox
    client = make_client(sb)
    sb.admin.set_faults(endpoint="groups", error_rate=0.5, error_status=503, seed=3)
    for _ in range(8):
        assert len(client.get(GROUPS)) == 3
    assert sb.admin.stats()["5xx_injected"] > 0
    assert client.stats.retries == sb.admin.stats()["5xx_injected"]


def test_connection_resets_retried_then_succeed(client_sandbox, make_client) -> None:
    sb = client_sandbox
    client = make_client(sb)
    sb.admin.set_faults(endpoint="groups", reset_next=2)
    assert len(client.get(GROUPS)) == 3
    assert sb.admin.stats()["resets_injected"] == 2 and client.stats.retries == 2


def test_timeouts_retried_then_succeed(client_sandbox, make_client) -> None:
    sb = client_sandbox
    client = make_client(sb, read_timeout_s=0.3)
    client.get(GROUPS)
    sb.admin.set_faults(endpoint="groups", latency_s=1.0)
    threading.Timer(0.8, sb.admin.clear_faults).start()  # the slowness passes
    assert len(client.get(GROUPS)) == 3
    assert client.stats.retries >= 1


def test_persisting_5xx_gives_up_bounded_with_a_clear_error(client_sandbox, make_client) -> None:
    sb = client_sandbox
    client = make_client(sb, max_attempts=3)
    sb.admin.set_faults(endpoint="groups", error_rate=1.0)
    started = time.monotonic()
    with pytest.raises(RetriesExhausted) as info:
        client.get(GROUPS)
    assert time.monotonic() - started < 10
    assert info.value.attempts == 3
    assert "groups" in str(info.value) and "HTTP 500" in str(info.value)


def test_persisting_timeouts_bounded_by_total_time(client_sandbox, make_client) -> None:
    sb = client_sandbox
    client = make_client(sb, read_timeout_s=0.3, max_attempts=50, retry_max_seconds=2.0)
    client.get(GROUPS)
    sb.admin.set_faults(endpoint="groups", latency_s=2.0)
    started = time.monotonic()
    with pytest.raises(RetriesExhausted, match="timeout"):
        client.get(GROUPS)
    assert time.monotonic() - started < 4


def test_malformed_json_names_the_endpoint(client_sandbox, make_client) -> None:
    sb = client_sandbox
    client = make_client(sb)
    sb.admin.set_faults(endpoint="groups", malformed_next=1)
    with pytest.raises(MalformedResponse, match=r"/v1/integration-management/groups: malformed response"):
        client.get(GROUPS)
