"""Run a sync through Dagster (so every run shows in the UI) and summarise what it wrote."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, build_reconstructable_job, execute_job

from alocity_etl.catalog import tables as catalog_tables
from alocity_etl.defs.assets import DBT_TEST_ID
from alocity_etl.defs.jobs import DIMENSION_TABLES, EVENT_TABLES, sync_job
from alocity_etl.pipeline import finish_run
from alocity_etl.sync_lock import sync_lock
from alocity_etl.warehouse import WarehouseError

WAREHOUSE_TABLES = frozenset(catalog_tables())
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# The console shows progress lines and warnings, not every engine event.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def job_def(name: str):
    """Reconstructor for execute_job: the job of that name from the one Definitions."""
    from alocity_etl.definitions import defs

    return defs.resolve_job_def(name)


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
class SyncSummary:
    runs: list[tuple[str, str, bool]] = field(default_factory=list)  # (job, run id, success)
    tables: dict[str, TableLine] = field(default_factory=dict)  # warehouse tables
    models: dict[str, int] = field(default_factory=dict)  # analytics model -> rows
    dbt_tests: DbtTests = field(default_factory=lambda: DbtTests())
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
    # Client accounting is per step (one step per resource); take it once per step.
    seen: set[str] = set()
    for rec in records:
        mat = rec.event_log_entry.asset_materialization
        step = rec.event_log_entry.step_key or ""
        if mat is None or step in seen:
            continue
        seen.add(step)
        md = mat.metadata
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
            summary.errors.append(f"{rec.event_log_entry.step_key}: {data.user_failure_data.description}")
            continue
        err = data.error
        while err.cause is not None:  # the user's exception, not Dagster's wrapper
            err = err.cause
        summary.errors.append(f"{rec.event_log_entry.step_key}: {err.message.strip().splitlines()[-1]}")


def access_log_range(start: str, days: int | None, today: datetime | None = None) -> tuple[str, str]:
    """The partition range to sync: the last `days` full UTC days (or all since `start`)."""
    today = (today or datetime.now(UTC)).date()
    last = today - timedelta(days=1)
    first = datetime.fromisoformat(start).date()
    if days is not None:
        first = max(first, today - timedelta(days=days))
    return first.isoformat(), last.isoformat()


def _close_interrupted(warehouse: str, lock_timeout_s: float) -> int:
    """Under the sync lock: syncs still "running" belong to a process that died."""
    from alocity_etl.warehouse import Warehouse, ledger

    with Warehouse.open(warehouse, lock_timeout=lock_timeout_s) as wh:
        return ledger.mark_interrupted(wh.con)


def run_sync(
    instance: DagsterInstance,
    select: set[str] | None = None,
    access_log_days: int | None = 1,
    access_log_start: str = "2026-01-01",
    tags: dict[str, str] | None = None,
    warehouse: str = "warehouse/alocity.duckdb",
    lock_timeout_s: float = 120.0,
    sync_wait_s: float = 3600.0,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
) -> SyncSummary:
    """Materialise the selected tables (and, for a full sync, the models) as one Dagster run.

    Holds the warehouse's sync lock for the whole sync (see `sync_lock`); raises
    `SyncBusyError` if another sync keeps it longer than `sync_wait_s`."""
    with sync_lock(warehouse, sync_wait_s, log):
        closed = _close_interrupted(warehouse, lock_timeout_s)
        if closed:
            log(f"marked {closed} sync(s) left running by a killed process as interrupted")
        return _run_sync(instance, select, access_log_days, access_log_start, tags, warehouse, lock_timeout_s)


def _run_sync(
    instance: DagsterInstance,
    select: set[str] | None,
    access_log_days: int | None,
    access_log_start: str,
    tags: dict[str, str] | None,
    warehouse: str,
    lock_timeout_s: float,
) -> SyncSummary:
    summary = SyncSummary()
    t0 = time.monotonic()
    if select:
        # One fetch fills every table of a resource (users -> cards): select them together.
        resources = {res.name for t, (res, _) in catalog_tables().items() if t in select}
        select = {t for t, (res, _) in catalog_tables().items() if res.name in resources}
    dims = [t for t in DIMENSION_TABLES if not select or t in select]
    events = [t for t in EVENT_TABLES if not select or t in select]
    tags = dict(tags or {})
    if events:
        first, last = access_log_range(access_log_start, access_log_days)
        if first <= last:
            tags.update({RANGE_START: first, RANGE_END: last})
        else:
            events = []
    keys = [AssetKey(t) for t in (*dims, *events)]
    if not keys:  # only access logs asked for, and no full day to fetch yet
        return summary
    if not select:
        # The rest of the job: the dbt models (in the UI a sensor refreshes them after each
        # per-kind run), as the job Dagster resolves lists them.
        keys += [
            k
            for k in job_def(sync_job.name).asset_layer.selected_asset_keys
            if k.to_user_string() not in WAREHOUSE_TABLES
        ]
    recon = build_reconstructable_job(
        "alocity_etl.sync_runner", "job_def", reconstructable_args=(sync_job.name,)
    )
    with execute_job(recon, instance=instance, tags=tags, run_config=QUIET, asset_selection=keys) as result:
        summary.runs.append((sync_job.name, result.run_id, result.success))
        collect_run(instance, result.run_id, summary)
        try:
            finish_run(
                warehouse,
                result.run_id,
                result.success,
                summary.requests,
                summary.errors[0] if summary.errors else None,
                lock_timeout_s=lock_timeout_s,
            )
        except WarehouseError as exc:  # the run's own failure is already in summary.errors
            summary.errors.append(f"ledger: {exc}")
    summary.seconds = time.monotonic() - t0
    return summary


def print_summary(summary: SyncSummary, warehouse: str) -> None:
    from rich.console import Console
    from rich.table import Table

    # Piped output (CI logs) gets a fixed width instead of rich's 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    table = Table(title="alocity-etl sync", show_lines=False)
    for col in ("table", "rows", "inserted", "updated", "deleted", "unchanged", "note"):
        table.add_column(col, justify="right" if col not in ("table", "note") else "left")
    for line in summary.tables.values():
        table.add_row(
            line.table,
            *(str(getattr(line, k)) for k in ("rows", "inserted", "updated", "deleted", "unchanged")),
            line.note,
        )
    console.print(table)
    if summary.models:
        built = ", ".join(f"{name} ({rows} rows)" for name, rows in summary.models.items())
        console.print(f"analytics models: {built}", highlight=False)
    if summary.dbt_tests.ran:
        console.print(summary.dbt_tests.line(), highlight=False, markup=False)
    console.print(
        f"requests: {summary.requests}   429s: {summary.responses_429}   "
        f"throttled: {summary.throttled_seconds:.1f}s   time: {summary.seconds:.1f}s"
    )
    for job, run_id, ok in summary.runs:
        console.print(f"run {job} {run_id[:8]}: {'succeeded' if ok else 'FAILED'}")
    for err in summary.errors:
        console.print(f"[red]error[/red] {err}")
    console.print(f"\nWarehouse: {warehouse}")
