"""Reliability suite fixtures: a session-wide collector written to reports/reliability.json.

Every test adds what it proved (faults tried, kills, rows reconciled/lost/duplicated,
pages repeated after a kill, secret leaks) to `reliability_report`; the figures are
written once, at the end of the session, whether the tests passed or not.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from alocity_etl.sandbox import RunningSandbox
from tests.support.pipeline import Paths, start_sandbox

REPO = Path(__file__).resolve().parents[2]

REPORT = REPO / "reports" / "reliability.json"


@dataclass
class Collector:
    faults_tried: list[str] = field(default_factory=list)
    kills: int = 0
    kill_phases: dict[str, int] = field(default_factory=dict)
    rows_reconciled: int = 0
    rows_lost: int = 0
    rows_duplicated: int = 0
    rows_mismatched: int = 0
    reconciliations: int = 0
    max_pages_repeated_after_kill: int = 0
    pages_repeated_after_kill: list[int] = field(default_factory=list)
    secret_leaks: int = 0
    secret_places_scanned: int = 0
    lock_wait_seconds: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def fault(self, name: str) -> None:
        self.faults_tried.append(name)

    def reconciled(self, rec) -> None:  # a tests.support.reconcile.Reconciliation
        self.reconciliations += 1
        self.rows_reconciled += rec.rows_reconciled
        self.rows_lost += rec.rows_lost
        self.rows_duplicated += rec.rows_duplicated
        self.rows_mismatched += rec.rows_mismatched

    def killed(self, phase: str, repeated: int) -> None:
        self.kills += 1
        self.kill_phases[phase] = self.kill_phases.get(phase, 0) + 1
        self.pages_repeated_after_kill.append(repeated)
        self.max_pages_repeated_after_kill = max(self.max_pages_repeated_after_kill, repeated)

    def as_json(self) -> dict:
        out = asdict(self)
        out.pop("started")
        out["faults_tried"] = len(set(self.faults_tried))  # distinct faults / situations
        out["fault_runs"] = len(self.faults_tried)  # every test run under one of them
        out["fault_names"] = sorted(set(self.faults_tried))
        out["suite_seconds"] = round(time.monotonic() - self.started, 1)
        return out


_COLLECTOR = Collector()


@pytest.fixture(scope="session")
def reliability_report() -> Iterator[Collector]:
    yield _COLLECTOR
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(_COLLECTOR.as_json(), indent=2, sort_keys=True) + "\n")


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    p = Paths(tmp_path)
    p.init_dagster_home()
    return p


@pytest.fixture
def sandbox_today() -> Iterator[RunningSandbox]:
    """A tiny sandbox whose access logs fall in the partitions a sync selects (tests/support/pipeline.py)."""
    sb = start_sandbox()
    yield sb
    sb.stop()


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A work dir in RAM when there is one: Dagster's SQLite event log and DuckDB fsync, which is
    most of a small sync's time on a busy disk (the product's own speed is not measured here)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    d = Path(tempfile.mkdtemp(prefix="alocity-reliability-", dir=shm))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
