"""Jobs and the nightly schedule.

`sync` is the whole sync in one run: every dimension, the access logs (a catch-up, or the
run's partition range) and the analytics models, steps ordered by `assets.priority`. The
nightly schedule runs it as a catch-up: every access-log day not settled yet, through today
so far, as one partition range (sync/read_plan.py); `alocity-etl sync` runs it the same way,
or for the days it is given. `intraday_access_logs` (off unless ALOCITY_INTRADAY_SYNC=on)
reads today's newest events every 15 minutes. One run, not one per kind: a run start costs
~1 s of Dagster bookkeeping, all of it spent with no API call in flight, and the models
run in the same run, after the tables they read. `sync_dimensions` and `sync_access_logs`
stay for ad-hoc runs and backfills from the UI (the sensor `refresh_models_after_sync`
refreshes the models after them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

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
from alocity_etl.client import ConfigError
from alocity_etl.defs.accounts import block_tags, run_blocks
from alocity_etl.defs.assets import CATCH_UP, INTRADAY, MODELS_GROUP, READ_TAG
from alocity_etl.settings import Settings
from alocity_etl.sync.events import catch_up_range

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# A tick reads the ledger; a sync writing holds the file for seconds at a time.
SCHEDULE_WAIT_S = 30.0

DIMENSION_TABLES = [
    name
    for r in CATALOG
    if r.write_mode is WriteMode.VERSIONED
    for name in [r.name, *(c.name for c in r.children)]
]
EVENT_TABLES = [r.name for r in CATALOG if r.write_mode is WriteMode.APPEND]

ACCOUNT_TAG = "alocity/account"
SYNC_JOB, DIMENSIONS_JOB, ACCESS_LOGS_JOB = "sync", "sync_dimensions", "sync_access_logs"


def account_tags(settings: Settings) -> dict[str, str]:
    """{ACCOUNT_TAG: the account's fingerprint} (sha256 of base URL + key, not reversible), on
    every run: a queue keyed on it (deploy/dagster.yaml) runs one sync per account at a time
    while other accounts run. {} while no key is configured (nothing to sync then). With an
    accounts file the tag is set per run: the account, or the block of accounts, it syncs."""
    if settings.multi_account:
        return {}
    try:
        return {ACCOUNT_TAG: settings.api.client().fingerprint}
    except ConfigError:
        return {}


# What define_asset_job returns: its class is not part of Dagster's public API.
AssetJob = Any


@dataclass(frozen=True)
class Jobs:
    sync: AssetJob
    dimensions: AssetJob
    access_logs: AssetJob

    def all(self) -> list[AssetJob]:
        return [self.sync, self.dimensions, self.access_logs]


def build_jobs(settings: Settings) -> Jobs:
    # The steps are serial anyway (one pool slot, one API budget): run them in one process
    # instead of paying a Python start-up per step.
    tags = account_tags(settings)
    whole = AssetSelection.assets(*DIMENSION_TABLES, *EVENT_TABLES) | AssetSelection.groups(MODELS_GROUP)
    specs = (
        (SYNC_JOB, whole, "The whole sync in one run: every dimension, the access logs (a catch-up, or "
         "the run's partition range), then the analytics models."),
        (DIMENSIONS_JOB, AssetSelection.assets(*DIMENSION_TABLES),
         "Full snapshot of every dimension into versioned tables."),
        (ACCESS_LOGS_JOB, AssetSelection.assets(*EVENT_TABLES),
         "Access logs for one or more UTC days (backfillable)."),
    )  # fmt: skip
    made = [
        define_asset_job(
            name, selection=selection, description=text, executor_def=in_process_executor, run_tags=tags
        )
        for name, selection, text in specs
    ]
    return Jobs(*made)


def build_schedules(settings: Settings, jobs: Jobs) -> list[ScheduleDefinition]:
    sync = settings.sync

    @schedule(
        name="nightly_sync",
        job=jobs.sync,
        cron_schedule=sync.schedule_cron,
        execution_timezone=sync.schedule_timezone,
        default_status=DefaultScheduleStatus.RUNNING,
        description="The whole sync; access logs: every day not settled yet, through today so far "
        "(one run fills the nights the machine was off).",
    )
    def nightly_sync(context: ScheduleEvaluationContext) -> RunRequest | list[RunRequest]:
        today = context.scheduled_execution_time.astimezone(UTC).date()
        if settings.multi_account:
            return [
                RunRequest(run_key=f"sync-{today}-{block[0]}", tags={**tags, READ_TAG: CATCH_UP})
                for block, tags in account_blocks(settings, settings.account_names(), today)
            ]
        first, last = catch_up_range(settings, today, SCHEDULE_WAIT_S)
        return RunRequest(run_key=f"sync-{today}", tags={**range_tags(first, last), READ_TAG: CATCH_UP})

    @schedule(
        name="intraday_access_logs",
        job=jobs.access_logs,
        cron_schedule=sync.intraday_cron,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING if sync.intraday else DefaultScheduleStatus.STOPPED,
        description="Today's access logs so far: the events newer than the newest stored "
        "(ALOCITY_INTRADAY_SYNC=on turns it on).",
    )
    def intraday_access_logs(context: ScheduleEvaluationContext) -> RunRequest | list[RunRequest]:
        today = context.scheduled_execution_time.astimezone(UTC).date()
        if settings.multi_account:
            return [
                RunRequest(
                    tags={**block_tags(b, today, today), ACCOUNT_TAG: block_label(b), READ_TAG: INTRADAY}
                )
                for b in run_blocks(settings, settings.account_names())
            ]
        return RunRequest(partition_key=today.isoformat(), tags={READ_TAG: INTRADAY})

    return [nightly_sync, intraday_access_logs]


def block_label(block: list[str]) -> str:
    """The account tag of a run: its account, or its block of accounts ("acct01..acct50")."""
    return block[0] if len(block) == 1 else f"{block[0]}..{block[-1]}"


def account_blocks(
    settings: Settings, chosen: list[str], today: date, wait_s: float = SCHEDULE_WAIT_S
) -> list[tuple[list[str], dict[str, str]]]:
    """The catch-up runs of `chosen` accounts (`run_blocks`), each over
    the days from its accounts' earliest unsettled day through today (each account then
    reads its own unsettled days: the catch-up is per account, as its ledger says)."""
    out = []
    for block in run_blocks(settings, chosen):
        first = min(catch_up_range(settings.for_account(n), today, wait_s)[0] for n in block)
        out.append((block, {**block_tags(block, first, today), ACCOUNT_TAG: block_label(block)}))
    return out


def range_tags(first: date, last: date) -> dict[str, str]:
    """A run over the access-log partitions first..last (one run, however many days)."""
    return {RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}
