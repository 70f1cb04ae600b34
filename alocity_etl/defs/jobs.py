"""Jobs and the nightly schedules.

Dimensions and the daily-partitioned access logs cannot share one asset job, so the
nightly sync is two jobs on the same cron: every dimension, then yesterday's access
logs (the schedule picks the UTC day that ended before the tick).
"""

from __future__ import annotations

from datetime import UTC, timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
    in_process_executor,
    schedule,
)

from alocity_etl.catalog import CATALOG, WriteMode
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


def build_schedules(settings: PipelineSettings) -> list:
    @schedule(
        name="nightly_access_logs",
        job=access_logs_job,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone,
        default_status=DefaultScheduleStatus.RUNNING,
    )
    def nightly_access_logs(context: ScheduleEvaluationContext) -> RunRequest:
        day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date().isoformat()
        return RunRequest(run_key=f"access_logs-{day}", partition_key=day)

    return [
        ScheduleDefinition(
            name="nightly_dimensions",
            job=dimensions_job,
            cron_schedule=settings.schedule_cron,
            execution_timezone=settings.schedule_timezone,
            default_status=DefaultScheduleStatus.RUNNING,
        ),
        nightly_access_logs,
    ]
