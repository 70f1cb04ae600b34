"""Run a sync through Dagster (so every run shows in the UI) and collect what it wrote.

`run_sync` is what `alocity-etl sync`, `make sync` and the tests run: the job `sync` of
Definitions built from the given settings (and write hooks), executed in this process
(the jobs use the in-process executor anyway), recorded in the given Dagster instance.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from dagster import AssetCheckSeverity, AssetKey, DagsterInstance

from alocity_etl.catalog import resource as catalog_resource
from alocity_etl.catalog import tables as catalog_tables
from alocity_etl.client import AlocityClient
from alocity_etl.defs.assets import CATCH_UP, DBT_TEST_ID, INTRADAY, READ_TAG
from alocity_etl.defs.build import build_definitions
from alocity_etl.defs.jobs import DIMENSION_TABLES, EVENT_TABLES, SYNC_JOB, account_tags, range_tags
from alocity_etl.settings import Settings
from alocity_etl.sync.events import catch_up_range, find_origin, first_partition_day
from alocity_etl.sync.lock import sync_lock
from alocity_etl.sync.pipeline import finish_run
from alocity_etl.sync.read_plan import CatchUp, DayRange, Intraday, Read
from alocity_etl.warehouse import Warehouse, WarehouseError
from alocity_etl.warehouse.write_hooks import NO_HOOKS, WriteHooks

WAREHOUSE_TABLES = frozenset(catalog_tables())
# The console shows progress lines and warnings, not every engine event.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass
class TableLine:
    table: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    note: str = ""


@dataclass
class AccessLogLine:
    """What the access-log step read: days, today so far, late arrivals."""

    days_read: int = 0
    first_day: str = ""
    partial_days: str = ""
    late_events: int = 0
    late_by_day: dict[str, int] = field(default_factory=dict)


@dataclass
class DbtTests:
    """Results of the dbt tests the run's models step ran (asset checks marked as dbt's)."""

    passed: int = 0
    warned: list[str] = field(default_factory=list)  # "check_name (n rows)"
    failed: list[str] = field(default_factory=list)

    @property
    def ran(self) -> int:
        return self.passed + len(self.warned) + len(self.failed)

    def line(self) -> str:
        out = f"dbt tests: {self.passed} passed, {len(self.warned)} warned, {len(self.failed)} failed"
        problems = [*(f"FAIL {n}" for n in self.failed), *(f"WARN {n}" for n in self.warned)]
        return out + (f" ({'; '.join(problems)})" if problems else "")


@dataclass
class AccountLine:
    """One account of a multi-account sync: what it wrote, what it cost, what went wrong."""

    account: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    days_read: int = 0
    late_events: int = 0
    requests: int = 0
    responses_429: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class SyncSummary:
    runs: list[tuple[str, str, bool]] = field(default_factory=list)  # (job, run id, success)
    tables: dict[str, TableLine] = field(default_factory=dict)  # warehouse tables
    access_logs: AccessLogLine | None = None
    models: dict[str, int] = field(default_factory=dict)  # analytics model -> rows
    dbt_tests: DbtTests = field(default_factory=DbtTests)
    accounts: dict[str, AccountLine] = field(default_factory=dict)  # with an accounts file
    requests: int = 0
    responses_429: int = 0
    throttled_seconds: float = 0.0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(ok for _, _, ok in self.runs)


def _int(v) -> int:
    return int(getattr(v, "value", v) or 0)


def _text(v) -> str:
    return str(getattr(v, "value", v) or "")


def collect_run(instance: DagsterInstance, run_id: str, summary: SyncSummary) -> None:
    from dagster import DagsterEventType

    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    counted: set[str] = set()
    for rec in records:
        mat = rec.event_log_entry.asset_materialization
        # A partition-range run records the same materialization once per partition.
        if mat is None or mat.asset_key.to_user_string() in counted:
            continue
        md = mat.metadata
        name = mat.asset_key.to_user_string()
        counted.add(name)
        if name not in WAREHOUSE_TABLES:
            summary.models[name] = _int(md.get("dagster/row_count"))
            continue
        line = summary.tables.setdefault(name, TableLine(name))
        line.rows = _int(md.get("dagster/row_count"))
        for k in ("inserted", "updated", "deleted", "unchanged"):
            setattr(line, k, getattr(line, k) + _int(md.get(k)))
        if "unavailable" in md:
            line.note = "unavailable on this account"
        by_account = getattr(md.get("by_account"), "value", None) or {}
        for account, figures in by_account.items():
            acc = summary.accounts.setdefault(account, AccountLine(account))
            acc.rows += int(figures.get("rows", 0))
            for k in ("inserted", "updated", "deleted", "days_read", "late_events"):
                setattr(acc, k, getattr(acc, k) + int(figures.get(k, 0)))
        if "days_read" in md:
            summary.access_logs = AccessLogLine(
                days_read=_int(md.get("days_read")),
                first_day=_text(md.get("first_day_read")),
                partial_days=_text(md.get("partial_days")),
                late_events=_int(md.get("late_events")),
                late_by_day=dict(getattr(md.get("late_by_day"), "value", None) or {}),
            )
    # Client accounting is per step (one step per resource); take it once per step.
    seen: set[str] = set()
    for rec in records:
        mat = rec.event_log_entry.asset_materialization
        step = rec.event_log_entry.step_key or ""
        if mat is None or step in seen or mat.asset_key.to_user_string() not in WAREHOUSE_TABLES:
            continue
        seen.add(step)
        md = mat.metadata
        for account, figures in (getattr(md.get("by_account"), "value", None) or {}).items():
            acc = summary.accounts.setdefault(account, AccountLine(account))
            acc.requests += int(figures.get("requests", 0))
            acc.responses_429 += int(figures.get("responses_429", 0))
        summary.requests += _int(md.get("requests"))
        summary.responses_429 += _int(md.get("responses_429"))
        summary.throttled_seconds += float(getattr(md.get("throttled_seconds"), "value", 0) or 0)
    checks = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    for rec in checks:
        ev = rec.event_log_entry.dagster_event.event_specific_data
        if DBT_TEST_ID not in ev.metadata:
            continue  # the warehouse's own quality checks
        rows = _int(ev.metadata.get("failed_rows"))
        if ev.passed:
            summary.dbt_tests.passed += 1
        elif ev.severity == AssetCheckSeverity.WARN:
            summary.dbt_tests.warned.append(f"{ev.check_name} ({rows} rows)")
        else:
            summary.dbt_tests.failed.append(f"{ev.check_name} ({rows} rows)")
    failures = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records
    for rec in failures:
        data = rec.event_log_entry.dagster_event.step_failure_data
        if data.user_failure_data and data.user_failure_data.description:  # a step's own Failure
            failed = getattr(data.user_failure_data.metadata.get("by_account"), "value", None) or {}
            for account, error in failed.items():
                summary.accounts.setdefault(account, AccountLine(account)).errors.append(
                    f"{rec.event_log_entry.step_key}: {error}"
                )
            summary.errors.append(f"{rec.event_log_entry.step_key}: {data.user_failure_data.description}")
            continue
        err = data.error
        while err.cause is not None:  # the user's exception, not Dagster's wrapper
            err = err.cause
        summary.errors.append(f"{rec.event_log_entry.step_key}: {err.message.strip().splitlines()[-1]}")


def close_interrupted(settings: Settings) -> int:
    """Under the sync lock: syncs still "running" belong to a process that died."""
    with Warehouse.open(settings.warehouse.path, lock_timeout=settings.warehouse.lock_timeout_s) as wh:
        return wh.mark_interrupted()


def run_sync(
    instance: DagsterInstance,
    settings: Settings,
    select: set[str] | None = None,
    read: Read | None = None,
    tags: dict[str, str] | None = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
    today: date | None = None,
    hooks: WriteHooks = NO_HOOKS,
    accounts: list[str] | None = None,
) -> SyncSummary:
    """Materialise the selected tables (and, for a full sync, the models) as one Dagster run.

    `read`: what the access logs read (default: catch up, see sync/read_plan.py). Holds the
    warehouse's sync lock for the whole sync (see sync/lock.py); raises `SyncBusyError` if
    another sync keeps it longer than ALOCITY_SYNC_WAIT_S. With an accounts file: `accounts`
    (default every one), in runs of ALOCITY_ACCOUNTS_PER_RUN accounts (defs/account_runs.py)."""
    if settings.multi_account:
        from alocity_etl.defs.account_runs import run_accounts_sync

        return run_accounts_sync(
            instance, settings, select, read or CatchUp(), tags, log, today, hooks, accounts
        )
    with sync_lock(settings.warehouse.path, settings.sync.sync_wait_s, log):
        closed = close_interrupted(settings)
        if closed:
            log(f"marked {closed} sync(s) left running by a killed process as interrupted")
        return _run_sync(instance, settings, select, read or CatchUp(), tags, log, today, hooks)


def access_log_partitions(
    settings: Settings, read: Read, today: date, log: Callable[[str], None]
) -> tuple[date, date] | None:
    """The partition range of a run that reads `read` (None: no day to read). Finds where the
    account's history starts first, if the warehouse does not know yet, so the range (and
    the partitions, which begin there) is right."""
    resource = catalog_resource(EVENT_TABLES[0])
    with AlocityClient(settings.api.client()) as client:
        find_origin(client, resource, settings)
    first_day = first_partition_day(settings, today)
    if isinstance(read, CatchUp):
        first, last = catch_up_range(settings, today, settings.warehouse.lock_timeout_s)
    elif isinstance(read, DayRange):
        first, last = read.first or first_day, read.last or today
    else:
        first, last = today, today
    if last < first_day:
        log(f"access logs: no day to read before {first_day} (where the account's history starts)")
        return None
    if first < first_day:
        log(f"access logs: from {first_day}, where the account's history starts (asked: {first})")
    return max(first, first_day), last


def selected_tables(select: set[str] | None) -> tuple[list[str], list[str]]:
    """(dimension tables, event tables) a sync writes; all without `select`."""
    if select:
        # One fetch fills every table of a resource (users -> cards): select them together.
        resources = {res.name for t, (res, _) in catalog_tables().items() if t in select}
        select = {t for t, (res, _) in catalog_tables().items() if res.name in resources}
    dims = [t for t in DIMENSION_TABLES if not select or t in select]
    return dims, [t for t in EVENT_TABLES if not select or t in select]


def read_tags(read: Read) -> dict[str, str]:
    """How the run's access-log step reads (absent: exactly the run's partitions)."""
    if isinstance(read, CatchUp):
        return {READ_TAG: CATCH_UP}
    if isinstance(read, Intraday):
        return {READ_TAG: INTRADAY}
    return {}


def model_keys(job, select: set[str] | None) -> list[AssetKey]:
    """A whole sync ends with the dbt models (in the UI a sensor refreshes them after each
    per-kind run), as the job Dagster resolves lists them; a selective one without."""
    if select:
        return []
    return [k for k in job.asset_layer.selected_asset_keys if k.to_user_string() not in WAREHOUSE_TABLES]


def _run_sync(
    instance: DagsterInstance,
    settings: Settings,
    select: set[str] | None,
    read: Read,
    tags: dict[str, str] | None,
    log: Callable[[str], None],
    today: date | None,
    hooks: WriteHooks,
) -> SyncSummary:
    summary = SyncSummary()
    t0 = time.monotonic()
    today = today or datetime.now(UTC).date()
    dims, events = selected_tables(select)
    tags = {**account_tags(settings), **(tags or {})}
    if events:
        days = access_log_partitions(settings, read, today, log)
        if days is None:
            events = []
        else:
            tags.update(range_tags(*days), **read_tags(read))
    keys = [AssetKey(t) for t in (*dims, *events)]
    if not keys:  # only access logs asked for, and no day to read
        return summary
    job = build_definitions(settings, hooks).resolve_job_def(SYNC_JOB)
    keys += model_keys(job, select)
    result = job.execute_in_process(
        instance=instance, tags=tags, run_config=QUIET, asset_selection=keys, raise_on_error=False
    )
    summary.runs.append((SYNC_JOB, result.run_id, result.success))
    collect_run(instance, result.run_id, summary)
    try:
        finish_run(
            settings.warehouse.path,
            result.run_id,
            result.success,
            summary.requests,
            summary.errors[0] if summary.errors else None,
            lock_timeout_s=settings.warehouse.lock_timeout_s,
        )
    except WarehouseError as exc:  # the run's own failure is already in summary.errors
        summary.errors.append(f"ledger: {exc}")
    summary.seconds = time.monotonic() - t0
    return summary
