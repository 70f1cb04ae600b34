"""The dbt step of a sync (`analytics_models`: every model and every dbt test) at `small`.

A `small` sandbox in its own process (rate limit off); a fresh DAGSTER_HOME and warehouse;
the manifest prepared once beforehand (as the first Definitions load of a fresh clone
does). Each sync is an `alocity-etl sync` process of its own, as the nightly run is, so dbt
starts cold in each (its modules, its adapter, the partial parse): sync 1 loads 30 days,
then three nightly syncs, each after one simulated day. Per sync: the wall time of the
`analytics_models` step (Dagster's step start to step end: waiting for the file, dbt's
partial parse, the build, row counts), read from the Dagster instance, and dbt's own build
time. Target: <= 10 s for every sync. Then the same step twice more in one process (as a
long-lived process would run it), and the peak RSS of a sync process with dbt in it.

Writes benchmarks/results/dbt_step.json.

    .venv/bin/python benchmarks/dbt_step.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import CLI, sandbox_process, table, write_result  # noqa: E402
from benchmarks.api_floor import prepare_dagster_home  # noqa: E402

STEP = "analytics_models"
TARGET_S = 10.0
NIGHTLY = 3


def step_seconds(instance, run_id: str) -> tuple[float, float | None]:  # type: ignore[no-untyped-def]
    """(wall seconds of the dbt step, dbt's own build seconds from the step's log)."""
    from dagster import DagsterEventType

    start = end = None
    build = None
    for rec in instance.get_records_for_run(run_id).records:
        entry = rec.event_log_entry
        if entry.step_key != STEP:
            continue
        event = entry.dagster_event
        if event is not None and event.event_type == DagsterEventType.STEP_START:
            start = entry.timestamp
        elif event is not None and event.event_type in (
            DagsterEventType.STEP_SUCCESS,
            DagsterEventType.STEP_FAILURE,
        ):
            end = entry.timestamp
        elif event is None and entry.user_message.startswith("dbt build: "):
            build = float(entry.user_message.split()[2])
    assert start is not None and end is not None, f"no {STEP} step in run {run_id}"
    return end - start, build


def cli_sync(days: int, *extra: str) -> tuple[str, float]:
    """One `alocity-etl sync` process; (its Dagster run id, its peak RSS in MB)."""
    import resource
    import subprocess

    from dagster import DagsterInstance

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run([CLI, "sync", "--days", str(days), *extra], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
    return run.run_id, round(max(peak, before) / 1024, 1)


def rss_without_models(every_table) -> float:  # type: ignore[no-untyped-def]
    """Peak RSS of a sync process that runs no model, measured in a child of its own."""
    import subprocess

    code = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    args = [CLI, "sync", "--days", "1", "--select", ",".join(every_table)]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return round(int(out.stdout.strip()) / 1024, 1)


def main() -> int:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="alocity-bench-dbt-"))
    samples = []
    with sandbox_process("small") as (base_url, key, admin):
        os.environ.update(
            DAGSTER_HOME=str(tmp / "dagster_home"),
            ALOCITY_BASE_URL=base_url,
            ALOCITY_ACCESS_KEY=key,
            ALOCITY_RATE_LIMIT="1000000/1s",
            ALOCITY_WAREHOUSE=str(tmp / "alocity.duckdb"),
            ALOCITY_CACHE_DIR=str(tmp / "cache"),
        )
        prepare_dagster_home(Path(os.environ["DAGSTER_HOME"]))
        from dagster import DagsterInstance

        from alocity_etl.analytics.dbt_run import ensure_manifest

        t0 = time.monotonic()
        ensure_manifest(os.environ["ALOCITY_WAREHOUSE"])  # a no-op when it is current
        prepare_s = time.monotonic() - t0
        rss = 0.0
        for i in range(1 + NIGHTLY):
            if i:
                admin.simulate(1)
            load = os.getloadavg()[0]
            t0 = time.monotonic()
            run_id, peak = cli_sync(31 if i == 0 else 1)
            rss = max(rss, peak)
            with DagsterInstance.get() as instance:
                step, build = step_seconds(instance, run_id)
            samples.append(
                {
                    "sync": "first (30 days)" if i == 0 else f"nightly {i}",
                    "process": "own",
                    "step_s": round(step, 2),
                    "dbt_build_s": build,
                    "sync_s": round(time.monotonic() - t0, 1),
                    "load_avg_1m": round(load, 2),
                }
            )
        # The same sync without its models (every table selected: no dbt), for its peak RSS -
        # the last, as RUSAGE_CHILDREN keeps the largest child's.
        from alocity_etl.catalog import tables

        rss_no_models = rss_without_models(tables())
        # A long-lived process: the same step twice more, dbt already warm after the first.
        from alocity_etl.defs.runs import run_sync
        from alocity_etl.settings import Settings
        from alocity_etl.sync.read_plan import DayRange

        settings = Settings.from_env()
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        instance = DagsterInstance.get()
        for i in range(3):
            admin.simulate(1)
            load = os.getloadavg()[0]
            summary = run_sync(instance, settings, read=DayRange(yesterday, yesterday))
            assert summary.ok, summary.errors
            step, build = step_seconds(instance, summary.runs[0][1])
            if i:
                samples.append(
                    {
                        "sync": f"nightly, warm process {i}",
                        "process": "shared",
                        "step_s": round(step, 2),
                        "dbt_build_s": build,
                        "sync_s": round(summary.seconds, 1),
                        "load_avg_1m": round(load, 2),
                    }
                )
        models, tests = len(summary.models), summary.dbt_tests.ran
    print(f"dbt step of a sync (small: {models} models, {tests} dbt tests); manifest check {prepare_s:.1f} s")
    table(
        [tuple(s.values()) for s in samples],
        ("sync", "process", "step_s", "dbt_build_s", "sync_s", "load_avg_1m"),
    )
    own = [s["step_s"] for s in samples if s["process"] == "own"]
    worst = max(own)
    nightly = own[1:]
    print(
        f"worst {worst} s, nightly median {statistics.median(nightly)} s (target <= {TARGET_S} s); "
        f"peak RSS of a sync process {rss} MB ({rss_no_models} MB for the same sync without its models)"
    )
    write_result(
        "dbt_step",
        {
            "preset": "small",
            "path": "alocity-etl sync (one process per sync, as nightly); step analytics_models",
            "models": models,
            "dbt_tests": tests,
            "step_s_worst": worst,
            "step_s_nightly_median": statistics.median(nightly),
            "target_s": TARGET_S,
            "peak_rss_mb_sync_process": rss,
            "peak_rss_mb_sync_without_models": rss_no_models,
            "samples": samples,
        },
    )
    return 0 if worst <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
