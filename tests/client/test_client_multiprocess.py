"""Two real processes share one account budget over HTTP: no 429, and the budget is used."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from alocity_etl.client import ClientSettings
from tests.support.budget_worker import spend_budget

LIMIT, WINDOW, SECONDS = 20, 2.0, 6.0


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
    ready, go, start_at, out = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    args = (settings, True, SECONDS, ready, go, start_at, out)
    procs = [ctx.Process(target=spend_budget, args=args) for _ in range(2)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)  # both imported and logged in (one shared token)
    sb.admin.reset_stats()
    start_at.value = time.time()
    go.set()
    stats = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all("error" not in s for s in stats), stats
    server = sb.admin.stats()
    assert server.get("responses_429", 0) == 0
    assert sum(s["responses_429"] for s in stats) == 0
    assert all(s["requests"] > 5 for s in stats)  # both really worked
    fraction = server["requests_total"] / (SECONDS / WINDOW) / LIMIT
    assert fraction >= 0.9, fraction
