"""End-to-end pipeline fixtures (helpers and the time set-up: tests/support/pipeline.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alocity_etl.sandbox import RunningSandbox
from tests.support.pipeline import History, Paths, run_sync_in_process, start_sandbox, sync_ids


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path)


@pytest.fixture
def sandbox_today() -> Iterator[RunningSandbox]:
    """A tiny sandbox whose access logs fall in the partitions a sync selects."""
    sb = start_sandbox()
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """Shared (read-only for the tests): sync, simulate 1, sync, simulate 1, sync."""
    sb = start_sandbox()
    paths = Paths(tmp_path_factory.mktemp("history"))
    summaries, syncs = [], []
    try:
        for day in range(3):
            if day:
                sb.admin.simulate(days=1)
            summary = run_sync_in_process(sb, paths, models=True)  # each sync builds the models
            summaries.append(summary)
            syncs.append(sync_ids(paths, summary))
        yield History(sb, paths, summaries, syncs)
    finally:
        sb.stop()
