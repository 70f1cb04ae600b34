"""One sync through Dagster in this process, as `alocity-etl sync` runs it (shared by suites).

Definitions are built from the settings each call reads, so every call sees its own
sandbox and warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dagster import DagsterInstance

from alocity_etl.analytics.dbt_run import environ
from alocity_etl.defs.build import build_definitions
from alocity_etl.defs.runs import run_sync
from alocity_etl.settings import Settings
from alocity_etl.sync.read_plan import DayRange, Read
from alocity_etl.warehouse.write_hooks import NO_HOOKS, WriteHooks


def last_days(days: int, today: date | None = None) -> DayRange:
    """The `--days N` read: the N days ending yesterday."""
    today = today or datetime.now(UTC).date()
    return DayRange(today - timedelta(days=days), today - timedelta(days=1))


def sync_in_process(
    env: dict[str, str],
    select: set[str] | None = None,
    read: Read | None = None,
    log: Callable[[str], None] = lambda m: None,
    hooks: WriteHooks = NO_HOOKS,
):
    """`run_sync` with exactly these ALOCITY_* variables (the run reads the key through
    EnvVar, so they are this process's environment meanwhile), on an in-memory Dagster
    instance. Returns the summary; does not assert success. `read` None: a plain sync."""
    from dagster import DagsterInstance

    with environ(env), DagsterInstance.ephemeral() as instance:
        return run_sync(instance, Settings.from_env(env), select, read, log=log, hooks=hooks)


@dataclass
class ScheduledRun:
    success: bool
    tags: dict[str, str]
    materialized_partitions: set[str]  # access_logs partitions the run materialised


def scheduled_run(
    env: dict[str, str], schedule: str, tick: datetime, instance: DagsterInstance | None = None
) -> ScheduledRun:
    """What the daemon does at `tick`: evaluate the schedule and execute the run it asks for
    (its job, tags and partition) through Dagster's public APIs, in this process."""
    from dagster import AssetKey, DagsterEventType, DagsterInstance, build_schedule_context

    with environ(env), nullcontext(instance) if instance else DagsterInstance.ephemeral() as dagster:
        defs = build_definitions(Settings.from_env(env))
        sched = next(s for s in defs.schedules if s.name == schedule)
        ctx = build_schedule_context(scheduled_execution_time=tick, repository_def=defs.get_repository_def())
        (request,) = sched.evaluate_tick(ctx).run_requests
        tags = dict(request.tags)
        if request.partition_key:
            tags["dagster/partition"] = request.partition_key
        job = defs.resolve_job_def(sched.job_name)
        result = job.execute_in_process(instance=dagster, tags=tags, raise_on_error=False)
        records = dagster.get_records_for_run(
            result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
        ).records
        parts = {
            r.event_log_entry.asset_materialization.partition
            for r in records
            if r.event_log_entry.asset_materialization.asset_key == AssetKey("access_logs")
        }
        return ScheduledRun(result.success, {**job.run_tags, **tags}, {p for p in parts if p})
