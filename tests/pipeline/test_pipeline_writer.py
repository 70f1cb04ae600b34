"""A long access-log window: the file is written day by day and let go every few days."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import start_sandbox

from alocity_etl import pipeline
from alocity_etl.catalog import resource
from alocity_etl.client import AlocityClient, ClientSettings
from alocity_etl.warehouse import Warehouse


def sync_access_logs(tmp_path: Path, days: int, rate_limit: str) -> tuple[pipeline.ResourceResult, list[Any]]:
    """The access logs of the sandbox's last `days` full days through sync_resource, and
    the sandbox's ground truth for them."""
    sb = start_sandbox()
    try:
        settings = ClientSettings.from_values(
            base_url=sb.base_url,
            access_key=sb.access_key,
            rate_limit=rate_limit,
            cache_dir=str(tmp_path / "c"),
        )
        end = sb.admin.clock().replace(hour=0, minute=0, second=0, microsecond=0)
        window = (end - timedelta(days=days), end)
        with AlocityClient(settings) as client:
            result = pipeline.sync_resource(
                client,
                str(tmp_path / "w.duckdb"),
                resource("access_logs"),
                "r1",
                window=window,
                log=lambda _m: None,
            )
        return result, sb.admin.ground_truth(table="access_logs", from_=window[0], to=window[1])
    finally:
        sb.stop()


@pytest.mark.parametrize("max_days", [1, 2, 8])
def test_the_writer_is_reopened_after_writer_max_days(
    max_days: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB holds memory per committed day until the file is closed (benchmarks/memory.py):
    a backfill reopens its writer every WRITER_MAX_DAYS days, and lands the same rows."""
    opened: list[bool] = []
    real_open = Warehouse.open

    def counting_open(*a: Any, **kw: Any) -> Warehouse:
        opened.append(bool(kw.get("read_only")))
        return real_open(*a, **kw)

    monkeypatch.setattr(pipeline, "WRITER_MAX_DAYS", max_days)
    monkeypatch.setattr(pipeline, "HOLD_WRITER_S", 30.0)  # only the day cap lets the file go
    monkeypatch.setattr(Warehouse, "open", counting_open)
    result, truth = sync_access_logs(tmp_path, days=4, rate_limit="100000/1s")
    writes = opened.count(False) - 1  # the first open only finds the run's sync
    assert writes == -(-4 // max_days)  # ceil(days / max_days)
    assert result.tables["access_logs"].row_count == len(truth) > 0


@pytest.mark.parametrize(("budget", "fetched_at_first_write"), [(1, 2), (64 * 2**20, 5)])
def test_days_are_fetched_ahead_within_the_byte_budget(
    budget: int, fetched_at_first_write: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room in the rate window the fetcher runs days ahead of the writer, so their writes
    fill the window's waits; FETCH_AHEAD_BYTES of parsed pages bounds how far (a tiny
    budget: one day ahead, as before)."""
    fetched: list[int] = []
    at_write: list[int] = []
    real_fetch, real_apply = pipeline._fetch, Warehouse.apply_pages

    def counting_fetch(*a: Any, **kw: Any) -> Any:
        pages = real_fetch(*a, **kw)
        fetched.append(1)
        return pages

    def slow_apply(self: Warehouse, *a: Any, **kw: Any) -> Any:
        if not at_write:  # the first write waits for the fetcher to run as far as it will
            deadline = time.monotonic() + 30  # (a slow machine only makes it reach it later)
            while len(fetched) < fetched_at_first_write and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)  # and gives it the chance to go further than allowed
        at_write.append(len(fetched))
        return real_apply(self, *a, **kw)

    monkeypatch.setattr(pipeline, "FETCH_AHEAD_BYTES", budget)
    monkeypatch.setattr(pipeline, "_fetch", counting_fetch)
    monkeypatch.setattr(Warehouse, "apply_pages", slow_apply)
    result, truth = sync_access_logs(tmp_path, days=5, rate_limit="none")
    assert at_write[0] == fetched_at_first_write
    assert len(fetched) == 5
    assert result.tables["access_logs"].row_count == len(truth) > 0
