"""End-to-end pipeline helpers: real syncs through Dagster against a sandbox on 127.0.0.1.

Time: `--days N` reads the N days ending YESTERDAY on the real clock, so the
sandboxes here start at today 00:00 UTC minus `START_DAYS_AGO` days; the tiny preset has
3 days of logs before its start and each simulated day adds the logs of one more day,
so with `LOG_DAYS` = 5 every partition the sync selects is one the sandbox can fill.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from alocity_etl.sandbox import RunningSandbox, Sandbox, SandboxConfig
from alocity_etl.sync.read_plan import Read
from tests.support.syncs import last_days, sync_in_process

REPO = Path(__file__).resolve().parents[2]
# The command installed beside the Python running the tests (whatever the venv is called).
CLI = str(Path(sys.executable).with_name("alocity-etl"))
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
START_DAYS_AGO = 2
SANDBOX_START = TODAY - timedelta(days=START_DAYS_AGO)
LOG_DAYS = 5  # partitions TODAY-5 .. TODAY-1
LOG_WINDOW = (TODAY - timedelta(days=LOG_DAYS), TODAY)
VERSION_COUNTS = ("inserted", "updated", "deleted")


def start_sandbox(**kwargs: Any) -> RunningSandbox:
    kwargs.setdefault("preset", "tiny")
    kwargs.setdefault("seed", 7)
    kwargs.setdefault("start", SANDBOX_START)
    kwargs.setdefault("rate_limit", "none")
    return Sandbox(SandboxConfig(**kwargs)).serve(port=0)


@dataclass
class Paths:
    root: Path

    @property
    def warehouse(self) -> Path:
        return self.root / "w.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dh"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def init_dagster_home(self) -> Path:
        """DAGSTER_HOME for subprocess runs (telemetry off, so no banner on stderr)."""
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        (self.dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        return self.dagster_home

    def env(self, sb: RunningSandbox | None, **extra: str) -> dict[str, str]:
        """The settings of a sync of this sandbox into this warehouse. The dbt models are off
        (ALOCITY_MODELS): these suites test the load path, and a sync's models step costs
        seconds; the `history` syncs, the secret-hygiene sync and tests/analytics build them."""
        env = {
            "ALOCITY_MODELS": "off",
            "ALOCITY_RATE_LIMIT": "1000/1s",
            "ALOCITY_CACHE_DIR": str(self.cache),
            "ALOCITY_WAREHOUSE": str(self.warehouse),
            "DAGSTER_HOME": str(self.dagster_home),
        }
        if sb is not None:
            env.update(ALOCITY_BASE_URL=sb.base_url, ALOCITY_ACCESS_KEY=sb.access_key)
        env.update(extra)
        return env


def run_sync_in_process(
    sb: RunningSandbox,
    paths: Paths,
    *,
    days: int | None = LOG_DAYS,
    select: set[str] | None = None,
    read: Read | None = None,
    models: bool = False,
):
    """One `run_sync` through Dagster (execute_job, in-process executor), as the CLI does it:
    the access logs of the last `days` days ending yesterday (`--days`), or `read`, or with
    days=None a plain sync (catch up); with the dbt models when `models`."""
    paths.init_dagster_home()
    if read is None and days is not None:
        read = last_days(days)
    summary = sync_in_process(paths.env(sb, ALOCITY_MODELS="on" if models else "off"), select, read)
    assert summary.ok, f"sync failed: {summary.errors}"
    return summary


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 120, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """`alocity-etl ARGS` in a subprocess with exactly these ALOCITY_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ALOCITY_", "DAGSTER_"))}
    return subprocess.run(
        [CLI, *args], env={**base, **env}, capture_output=True, text=True, timeout=timeout, **kw
    )


def sync_ids(paths: Paths, summary) -> dict[str, tuple[int, datetime]]:
    """{job name: (sync_id, started_at)} of the Dagster run of one run_sync."""
    out = {}
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        for job, run_id, _ in summary.runs:
            row = con.execute(
                "SELECT sync_id, started_at FROM meta.syncs WHERE dagster_run_id = ?", [run_id]
            ).fetchone()
            assert row is not None, f"no meta.syncs row for run {run_id}"
            out[job] = (int(row[0]), row[1])
    return out


def table_syncs(paths: Paths, sync_id: int) -> dict[str, dict[str, int]]:
    """{table: {inserted, updated, deleted, unchanged}} summed over one sync's loads."""
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT table_name, sum(inserted), sum(updated), sum(deleted), sum(unchanged) "
            "FROM meta.table_syncs WHERE sync_id = ? GROUP BY 1",
            [sync_id],
        ).fetchall()
    return {
        t: {"inserted": int(i), "updated": int(u), "deleted": int(d), "unchanged": int(n)}
        for t, i, u, d, n in rows
    }


@dataclass
class History:
    """Three syncs of one sandbox: day 0, day 1, day 2 (one simulated day in between)."""

    sb: RunningSandbox
    paths: Paths
    summaries: list[Any]
    syncs: list[dict[str, tuple[int, datetime]]]  # per sync: {job: (sync_id, started_at)}
