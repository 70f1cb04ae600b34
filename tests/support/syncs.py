"""One sync through Dagster in this process, as `alocity-etl sync` runs it (shared by suites).

The run's job is rebuilt from the settings the environment gives at each call
(sync_runner.job_def), so every call sees its own sandbox and warehouse.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from alocity_etl.sync.read_plan import DayRange, Read


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def last_days(days: int, today: date | None = None) -> DayRange:
    """The `--days N` read: the N days ending yesterday."""
    today = today or datetime.now(UTC).date()
    return DayRange(today - timedelta(days=days), today - timedelta(days=1))


def sync_in_process(
    env: dict[str, str],
    select: set[str] | None = None,
    read: Read | None = None,
    log: Callable[[str], None] = lambda m: None,
):
    """`run_sync` with exactly these ALOCITY_* variables, on an in-memory Dagster instance (the
    same execute_job path, without SQLite event-log overhead). Returns the summary; does not
    assert success. `read` None: a plain sync (catch up)."""
    from dagster import DagsterInstance

    with environ(env):
        from alocity_etl.settings import env_settings
        from alocity_etl.sync_runner import run_sync

        with DagsterInstance.ephemeral() as instance:
            return run_sync(instance, env_settings(), select, read, log=log)


@dataclass
class ScheduledRun:
    success: bool
    tags: dict[str, str]
    materialized_partitions: set[str]  # access_logs partitions the run materialised


def scheduled_run(env: dict[str, str], schedule: str, tick: datetime) -> ScheduledRun:
    """What the daemon does at `tick`: evaluate the schedule and execute the run it asks for
    (its job, tags and partition) through Dagster's public APIs, in this process."""
    from dagster import (
        AssetKey,
        DagsterEventType,
        DagsterInstance,
        build_reconstructable_job,
        build_schedule_context,
        execute_job,
    )

    with environ(env):
        from alocity_etl.definitions import build_definitions
        from alocity_etl.settings import env_settings

        settings = env_settings()
        defs = build_definitions(settings)
        sched = next(s for s in defs.schedules if s.name == schedule)
        ctx = build_schedule_context(scheduled_execution_time=tick, repository_def=defs.get_repository_def())
        (request,) = sched.evaluate_tick(ctx).run_requests
        tags = dict(request.tags)
        if request.partition_key:
            tags["dagster/partition"] = request.partition_key
        recon = build_reconstructable_job(
            "alocity_etl.sync_runner", "job_def", reconstructable_args=(sched.job_name, settings.to_json())
        )
        with (
            DagsterInstance.ephemeral() as instance,
            execute_job(recon, instance=instance, tags=tags) as result,
        ):
            records = instance.get_records_for_run(
                result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
            ).records
            parts = {
                r.event_log_entry.asset_materialization.partition
                for r in records
                if r.event_log_entry.asset_materialization.asset_key == AssetKey("access_logs")
            }
            return ScheduledRun(result.success, tags, {p for p in parts if p})
