"""Jobs and the nightly schedule.

`sync` is the whole sync in one run: every dimension, the access logs of the run's
partition (range) and the analytics models, steps ordered by `assets.priority`. The
nightly schedule runs it for yesterday (the UTC day that ended before the tick);
`alocity-etl sync` runs it for its window. One run, not one per kind: a run start costs
~1 s of Dagster bookkeeping, all of it spent with no API call in flight, and the models
run in the same run, after the tables they read. `sync_dimensions` and `sync_access_logs`
stay for ad-hoc runs and backfills from the UI (the sensor `refresh_models_after_sync`
refreshes the models after them).
"""

from __future__ import annotations

from datetime import UTC, timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    in_process_executor,
    schedule,
)

from alocity_etl.catalog import CATALOG, WriteMode
from alocity_etl.defs.assets import MODELS_GROUP
from alocity_etl.settings import PipelineSettings

DIMENSION_TABLES = [
    name
    for r in CATALOG
    if r.write_mode is WriteMode.VERSIONED
    for name in [r.name, *(c.name for c in r.children)]
]
EVENT_TABLES = [r.name for r in CATALOG if r.write_mode is WriteMode.APPEND]

# The steps are serial anyway (one pool slot, one API budget): run them in one process
# instead of paying a Python start-up per step.
dimensions_job = define_asset_job(
    "sync_dimensions",
    selection=AssetSelection.assets(*DIMENSION_TABLES),
    description="Full snapshot of every dimension into versioned tables.",
    executor_def=in_process_executor,
)
access_logs_job = define_asset_job(
    "sync_access_logs",
    selection=AssetSelection.assets(*EVENT_TABLES),
    description="Access logs for one or more UTC days (backfillable).",
    executor_def=in_process_executor,
)
sync_job = define_asset_job(
    "sync",
    selection=AssetSelection.assets(*DIMENSION_TABLES, *EVENT_TABLES) | AssetSelection.groups(MODELS_GROUP),
    description="The whole sync in one run: every dimension, the access logs of the partition "
    "(range), then the analytics models.",
    executor_def=in_process_executor,
)


def build_schedules(settings: PipelineSettings) -> list:
    @schedule(
        name="nightly_sync",
        job=sync_job,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone,
        default_status=DefaultScheduleStatus.RUNNING,
    )
    def nightly_sync(context: ScheduleEvaluationContext) -> RunRequest:
        day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date().isoformat()
        return RunRequest(run_key=f"sync-{day}", partition_key=day)

    return [nightly_sync]
