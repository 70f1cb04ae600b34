"""Run a sync through Dagster (so every run shows in the UI) and summarise what it wrote."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from dagster import AssetKey, DagsterInstance, build_reconstructable_job, execute_job

from alocity_etl.catalog import resource as catalog_resource
from alocity_etl.catalog import tables as catalog_tables
from alocity_etl.client import AlocityClient, ClientSettings
from alocity_etl.defs.assets import CATCH_UP, INTRADAY, READ_TAG
from alocity_etl.defs.jobs import DIMENSION_TABLES, EVENT_TABLES, account_tags, range_tags, sync_job
from alocity_etl.pipeline import finish_run
from alocity_etl.settings import PipelineSettings
from alocity_etl.sync.events import catch_up_range, find_origin, first_partition_day
from alocity_etl.sync.read_plan import CatchUp, DayRange, Intraday, Read
from alocity_etl.sync_lock import sync_lock
from alocity_etl.warehouse import WarehouseError

WAREHOUSE_TABLES = frozenset(catalog_tables())
# The console shows progress lines and warnings, not every engine event.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def job_def(name: str, settings: str):
    """Reconstructor for execute_job: the job of that name, from Definitions built from the
    sync's settings (JSON, `PipelineSettings.to_json`)."""
    from alocity_etl.definitions import build_definitions

    return build_definitions(PipelineSettings.from_json(settings)).resolve_job_def(name)


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
class SyncSummary:
    runs: list[tuple[str, str, bool]] = field(default_factory=list)  # (job, run id, success)
    tables: dict[str, TableLine] = field(default_factory=dict)  # warehouse tables
    access_logs: AccessLogLine | None = None
    models: dict[str, int] = field(default_factory=dict)  # analytics model -> rows
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


def _collect(instance: DagsterInstance, run_id: str, summary: SyncSummary) -> None:
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
        if mat is None or step in seen:
            continue
        seen.add(step)
        md = mat.metadata
        summary.requests += _int(md.get("requests"))
        summary.responses_429 += _int(md.get("responses_429"))
        summary.throttled_seconds += float(getattr(md.get("throttled_seconds"), "value", 0) or 0)
    failures = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records
    for rec in failures:
        err = rec.event_log_entry.dagster_event.step_failure_data.error
        while err.cause is not None:  # the user's exception, not Dagster's wrapper
            err = err.cause
        summary.errors.append(f"{rec.event_log_entry.step_key}: {err.message.strip().splitlines()[-1]}")


def _close_interrupted(warehouse: str, lock_timeout_s: float) -> int:
    """Under the sync lock: syncs still "running" belong to a process that died."""
    from alocity_etl.warehouse import Warehouse, ledger

    with Warehouse.open(warehouse, lock_timeout=lock_timeout_s) as wh:
        return ledger.mark_interrupted(wh.con)


def run_sync(
    instance: DagsterInstance,
    settings: PipelineSettings,
    select: set[str] | None = None,
    read: Read | None = None,
    tags: dict[str, str] | None = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
    today: date | None = None,
) -> SyncSummary:
    """Materialise the selected tables (and, for a full sync, the models) as one Dagster run.

    `read`: what the access logs read (default: catch up, see sync/read_plan.py). Holds the
    warehouse's sync lock for the whole sync (see `sync_lock`); raises `SyncBusyError` if
    another sync keeps it longer than ``settings.sync_wait_s``."""
    with sync_lock(settings.warehouse, settings.sync_wait_s, log):
        closed = _close_interrupted(settings.warehouse, settings.lock_timeout_s)
        if closed:
            log(f"marked {closed} sync(s) left running by a killed process as interrupted")
        return _run_sync(instance, settings, select, read or CatchUp(), tags, log, today)


def access_log_partitions(
    settings: PipelineSettings, read: Read, today: date, log: Callable[[str], None]
) -> tuple[date, date] | None:
    """The partition range of a run that reads `read` (None: no day to read). Finds where the
    account's history starts first, if the warehouse does not know yet, so the range (and
    the partitions, which begin there) is right."""
    resource = catalog_resource(EVENT_TABLES[0])
    with AlocityClient(ClientSettings.from_env()) as client:
        find_origin(client, resource, settings, settings.lock_timeout_s)
    first_day = first_partition_day(settings, today)
    if isinstance(read, CatchUp):
        first, last = catch_up_range(settings, today, settings.lock_timeout_s)
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


def _run_sync(
    instance: DagsterInstance,
    settings: PipelineSettings,
    select: set[str] | None,
    read: Read,
    tags: dict[str, str] | None,
    log: Callable[[str], None],
    today: date | None,
) -> SyncSummary:
    summary = SyncSummary()
    t0 = time.monotonic()
    today = today or datetime.now(UTC).date()
    if select:
        # One fetch fills every table of a resource (users -> cards): select them together.
        resources = {res.name for t, (res, _) in catalog_tables().items() if t in select}
        select = {t for t, (res, _) in catalog_tables().items() if res.name in resources}
    dims = [t for t in DIMENSION_TABLES if not select or t in select]
    events = [t for t in EVENT_TABLES if not select or t in select]
    tags = {**account_tags(), **(tags or {})}  # this process's account, not the first one imported
    if events:
        days = access_log_partitions(settings, read, today, log)
        if days is None:
            events = []
        else:
            tags.update(range_tags(*days))
            if isinstance(read, CatchUp):
                tags[READ_TAG] = CATCH_UP
            elif isinstance(read, Intraday):
                tags[READ_TAG] = INTRADAY
    keys = [AssetKey(t) for t in (*dims, *events)]
    if not keys:  # only access logs asked for, and no day to read
        return summary
    recon = build_reconstructable_job(
        "alocity_etl.sync_runner", "job_def", reconstructable_args=(sync_job.name, settings.to_json())
    )
    if not select:
        # The rest of the job: the analytics models (in the UI a sensor refreshes them after
        # each per-kind run). Read from the job Dagster resolves anyway, not re-parsed from SQL.
        keys += [
            k
            for k in recon.get_definition().asset_layer.selected_asset_keys
            if k.to_user_string() not in WAREHOUSE_TABLES
        ]
    with execute_job(recon, instance=instance, tags=tags, run_config=QUIET, asset_selection=keys) as result:
        summary.runs.append((sync_job.name, result.run_id, result.success))
        _collect(instance, result.run_id, summary)
        try:
            finish_run(
                settings.warehouse,
                result.run_id,
                result.success,
                summary.requests,
                summary.errors[0] if summary.errors else None,
                lock_timeout_s=settings.lock_timeout_s,
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
    logs = summary.access_logs
    if logs is not None and logs.days_read:
        line = f"access logs: {logs.days_read} day(s) read from {logs.first_day}"
        if logs.partial_days:
            line += f"; so far (partial): {logs.partial_days}"
        console.print(line)
        if logs.late_events:
            late = ", ".join(f"{n} on {d}" for d, n in sorted(logs.late_by_day.items()))
            console.print(f"late events: {logs.late_events} arrived after their day was read ({late})")
    if summary.models:
        console.print(
            "analytics models: " + ", ".join(f"{name} ({rows} rows)" for name, rows in summary.models.items())
        )
    console.print(
        f"requests: {summary.requests}   429s: {summary.responses_429}   "
        f"throttled: {summary.throttled_seconds:.1f}s   time: {summary.seconds:.1f}s"
    )
    for job, run_id, ok in summary.runs:
        console.print(f"run {job} {run_id[:8]}: {'succeeded' if ok else 'FAILED'}")
    for err in summary.errors:
        console.print(f"[red]error[/red] {err}")
    console.print(f"\nWarehouse: {warehouse}")
