"""Two real processes share one account budget over HTTP: no 429, and the budget is used."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from alocity_etl.catalog import endpoint_path
from alocity_etl.client import AlocityClient, ClientSettings

LIMIT, WINDOW, SECONDS = 20, 2.0, 6.0


def _worker(settings: ClientSettings, go: mp.Event, start_at: mp.Value, out: mp.Queue) -> None:
    with AlocityClient(settings) as client:
        client.tokens.current()
        go.wait(30)
        deadline = start_at.value + SECONDS
        while time.time() < deadline:
            for _page in client.iter_pages(endpoint_path("user_page"), page_size=3):
                if time.time() >= deadline:
                    break
        out.put(client.stats.as_dict())


@pytest.mark.slow
def test_two_processes_no_429_and_at_least_90_percent(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(rate_limit=f"{LIMIT}/{WINDOW:g}s")
    settings = ClientSettings(
        access_key=sb.access_key,
        base_url=sb.base_url,
        rate_limit=LIMIT,
        rate_window_s=WINDOW,
        cache_dir=tmp_path / "cache",
    )
    ctx = mp.get_context("spawn")  # a clean interpreter, as Dagster's multiprocess executor uses
    go, start_at, out = ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(settings, go, start_at, out)) for _ in range(2)]
    for p in procs:
        p.start()
    time.sleep(1.5)  # both imported and logged in (one shared token)
    sb.admin.reset_stats()
    start_at.value = time.time()
    go.set()
    stats = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    server = sb.admin.stats()
    assert server.get("responses_429", 0) == 0
    assert sum(s["responses_429"] for s in stats) == 0
    assert all(s["requests"] > 5 for s in stats)  # both really worked
    fraction = server["requests_total"] / (SECONDS / WINDOW) / LIMIT
    assert fraction >= 0.9, fraction
