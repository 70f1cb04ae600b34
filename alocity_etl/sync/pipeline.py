"""One resource from the API to the warehouse: fetch -> archive + normalise -> versioned write.

No Dagster here: the assets are thin wrappers over `sync_resource`, and so is anything
else that wants to run a resource (tests, benchmarks). The warehouse file is held
only while writing, never during the (rate-limited, slow) fetch, so an analyst's
read-only session is blocked for seconds, not for the whole sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from alocity_etl.catalog import Resource, WriteMode, snake, tables
from alocity_etl.client import AlocityClient, EndpointUnavailable, fetch_resource
from alocity_etl.sync.events import Clock, EventsContext, EventsRead, read_events, read_for_window, utc_now
from alocity_etl.sync.journal import PageJournal
from alocity_etl.sync.progress import Progress
from alocity_etl.sync.raw_pages import raw_page
from alocity_etl.sync.read_plan import Read
from alocity_etl.warehouse import MergeStats, Warehouse
from alocity_etl.warehouse.write_hooks import NO_HOOKS, WriteHooks

Log = Callable[[str], None]

# An analyst's query (alocity-etl sql/shell, a notebook) holds the file only while it runs;
# the writer waits up to this long (ALOCITY_LOCK_TIMEOUT_S) instead of failing on the lock.
LOCK_TIMEOUT_S = 120.0
# A day is settled once read this many days after it ended (ALOCITY_ACCESS_LOG_SETTLE_DAYS).
SETTLE_DAYS = 3


@dataclass
class TableResult:
    row_count: int
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    columns: list[tuple[str, str]]
    schema_changes: list[str] = field(default_factory=list)


@dataclass
class ResourceResult:
    resource: str
    sync_id: int
    tables: dict[str, TableResult]
    client_stats: dict[str, float]
    unavailable: str | None = None
    events: EventsRead | None = None  # access logs: the days read, late events


def parent_rows(wh: Warehouse, resource: Resource) -> list[dict[str, Any]]:
    """Current rows of a fan-out resource's parent, as wire dicts holding the parent key."""
    assert resource.fan_out is not None
    key = resource.fan_out.parent_key
    values = wh.current_values(resource.fan_out.parent, snake(key))
    return [{key: str(v) if not isinstance(v, int) else v} for v in values]


def _table_result(wh: Warehouse, table: str, stats: MergeStats, sync_id: int) -> TableResult:
    rows, columns, changes = wh.table_summary(table, sync_id)
    return TableResult(rows, stats.inserted, stats.updated, stats.deleted, stats.unchanged, columns, changes)


def _fetch(
    client: AlocityClient,
    resource: Resource,
    parents: list[dict[str, Any]] | None,
    progress: Progress,
    journal: PageJournal,
    sync_id: int,
    committed: Callable[[int], bool],
) -> list[dict[str, Any]]:
    """Every page of one dimension. Payloads already journaled by an interrupted run are
    replayed, not requested, and each new one is journaled as it arrives."""
    pages: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    replay = journal.load()
    if replay and journal.sync_id is not None and committed(journal.sync_id):
        journal.discard()  # killed between its commit and its deletion: already written
        replay = {}
    journal.start(sync_id, replay)
    with journal.kept_while_resumable():
        for page in fetch_resource(client, resource, parents=parents, replay=replay, record=journal.record):
            pages.append(raw_page(resource, page, None))
            # Progress counts parents for fan-outs (a known total, hence an ETA), else pages.
            parent = tuple(sorted((page.parent or {}).items()))
            if parents is None or parent not in seen:
                seen.add(parent)
                progress.advance()
    return pages


def sync_resource(
    client: AlocityClient,
    warehouse_path: str,
    resource: Resource,
    run_id: str,
    window: tuple[datetime, datetime] | None = None,
    log: Log = print,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
    read: Read | None = None,
    settle_days: int = SETTLE_DAYS,
    access_log_start: date | None = None,
    clock: Clock = utc_now,
    hooks: WriteHooks = NO_HOOKS,
    recheck_days: int = 0,
) -> ResourceResult:
    """Fetch `resource` and write all its tables.

    Dimensions: the full snapshot is fetched first, then written in one transaction.
    Events (access logs): `read` (default: catch up, or exactly `window` when given) is read
    as few listings as possible and written one UTC day per transaction (sync/events.py);
    a catch-up re-reads the last `recheck_days` days once a week (sync/read_plan.py).
    """
    before = client.stats.as_dict()
    with Warehouse.open(warehouse_path, lock_timeout=lock_timeout_s) as wh:
        sync_id, as_of = wh.sync_for_run(run_id)
        parents = parent_rows(wh, resource) if resource.fan_out else None
        loads = wh.syncs_that_loaded(resource.name)
    events = None
    if resource.write_mode is WriteMode.APPEND:
        ctx = EventsContext(
            warehouse_path,
            sync_id,
            as_of,
            settle_days,
            access_log_start,
            lock_timeout_s,
            log,
            clock,
            hooks,
            recheck_days,
        )
        events = read_events(client, resource, read or read_for_window(window), ctx)
        totals, unavailable = events.totals, events.unavailable
    else:
        results, unavailable = _sync_snapshot(
            client, warehouse_path, resource, parents, sync_id, as_of, loads, log, lock_timeout_s, hooks
        )
    after = client.stats.as_dict()
    delta = {k: round(after[k] - before.get(k, 0), 3) for k in after}
    if events is not None:
        with Warehouse.open(warehouse_path, read_only=True, lock_timeout=lock_timeout_s) as wh:
            results = _table_results(wh, resource, totals, sync_id)
    return ResourceResult(resource.name, sync_id, results, delta, unavailable, events)


def _table_results(
    wh: Warehouse, resource: Resource, totals: dict[str, MergeStats], sync_id: int
) -> dict[str, TableResult]:
    """What each table of `resource` holds after the write, and what the write changed."""
    return {
        table: _table_result(wh, table, totals.get(table) or MergeStats(), sync_id)
        for table, (res, _) in tables().items()
        if res.name == resource.name
    }


def _sync_snapshot(
    client: AlocityClient,
    warehouse_path: str,
    resource: Resource,
    parents: list[dict[str, Any]] | None,
    sync_id: int,
    as_of: datetime,
    loads: set[int],
    log: Log,
    lock_timeout_s: float,
    hooks: WriteHooks,
) -> tuple[dict[str, TableResult], str | None]:
    """One dimension: its whole snapshot, then one transaction; its tables as written (read
    on the same connection, after the commit)."""
    progress = Progress(resource.name, len(parents) if parents is not None else None, log, unit="calls")
    journal = PageJournal(warehouse_path, resource.name, None)
    try:
        pages = _fetch(client, resource, parents, progress, journal, sync_id, loads.__contains__)
    except EndpointUnavailable as exc:
        unavailable = f"{resource.name}: {exc} — not available on this account, skipped"
        log(unavailable)
        with Warehouse.open(warehouse_path, read_only=True, lock_timeout=lock_timeout_s) as wh:
            return _table_results(wh, resource, {}, sync_id), unavailable
    with Warehouse.open(warehouse_path, lock_timeout=lock_timeout_s, hooks=hooks) as wh:
        written = wh.apply_pages(resource.name, pages, sync_id, as_of, full_snapshot=True)
        results = _table_results(wh, resource, written, sync_id)
    journal.discard()  # written: nothing to resume
    progress.finish()
    return results, None


def finish_run(
    warehouse_path: str,
    run_id: str,
    success: bool,
    requests: int,
    error: str | None = None,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> None:
    """Close the ledger entry of a Dagster run (status, requests, first error line)."""
    with Warehouse.open(warehouse_path, lock_timeout=lock_timeout_s) as wh:
        wh.finish_run(run_id, success, requests, error)
