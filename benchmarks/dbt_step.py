"""The dbt step of a sync (`analytics_models`: every model and every dbt test) at `small`.

A `small` sandbox in its own process (rate limit off); a fresh DAGSTER_HOME and warehouse.
The Definitions load as a long-lived instance has them (the manifest prepared once, as at
the first load of a fresh clone). Sync 1 loads 30 days (`run_sync`, through Dagster), then
three nightly syncs, each after one simulated day. Per sync: the wall time of the
`analytics_models` step (Dagster's step start to step end: waiting for the file, dbt's
partial parse, the build, row counts) and dbt's own build time. Sync 1 is the first dbt run
on this warehouse (dbt re-parses: its profile names the new file); the nightly ones re-use
the warehouse's partial-parse state. Target: <= 10 s for every sync. Also the peak RSS of
this process (Dagster, four syncs and dbt, which runs in-process).

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import ru_maxrss_mb, sandbox_process, table, write_result  # noqa: E402
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

        t0 = time.monotonic()
        import alocity_etl.definitions  # noqa: F401  (prepares the manifest if missing or stale)

        load_s = time.monotonic() - t0
        from alocity_etl.settings import env_settings
        from alocity_etl.sync_runner import run_sync

        settings = env_settings()
        instance = DagsterInstance.get()
        for i in range(1 + NIGHTLY):
            if i:
                admin.simulate(1)
            load = os.getloadavg()[0]
            summary = run_sync(
                instance,
                access_log_days=31 if i == 0 else 1,
                access_log_start=settings.access_log_start,
                warehouse=settings.warehouse,
            )
            assert summary.ok, summary.errors
            step, build = step_seconds(instance, summary.runs[0][1])
            samples.append(
                {
                    "sync": "first (30 days)" if i == 0 else f"nightly {i}",
                    "step_s": round(step, 2),
                    "dbt_build_s": build,
                    "models": len(summary.models),
                    "dbt_tests": summary.dbt_tests.ran,
                    "sync_s": round(summary.seconds, 1),
                    "load_avg_1m": round(load, 2),
                }
            )
    print(f"dbt step of a sync (small), Definitions loaded in {load_s:.1f} s")
    table(
        [tuple(s.values()) for s in samples],
        ("sync", "step_s", "dbt_build_s", "models", "dbt_tests", "sync_s", "load_avg_1m"),
    )
    worst = max(s["step_s"] for s in samples)
    nightly = [s["step_s"] for s in samples[1:]]
    rss = ru_maxrss_mb()
    print(
        f"worst {worst} s, nightly median {statistics.median(nightly)} s (target <= {TARGET_S} s); "
        f"peak RSS of this process (Dagster, syncs, dbt in-process) {rss} MB"
    )
    write_result(
        "dbt_step",
        {
            "preset": "small",
            "path": "sync_runner.run_sync (Dagster, in-process executor); step analytics_models",
            "step_s_worst": worst,
            "step_s_nightly_median": statistics.median(nightly),
            "target_s": TARGET_S,
            "definitions_load_s": round(load_s, 1),
            "peak_rss_mb_process": rss,
            "samples": samples,
        },
    )
    return 0 if worst <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
