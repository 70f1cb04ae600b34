"""One resource from the API to the warehouse: fetch -> archive + normalise -> versioned write.

No Dagster here: the assets are thin wrappers over `sync_resource`, and so is anything
else that wants to run a resource (tests, benchmarks). The warehouse file is held
only while writing, never during the (rate-limited, slow) fetch, so an analyst's
read-only session is blocked for seconds, not for the whole sync.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alocity_etl.catalog import Resource, WriteMode, snake, tables
from alocity_etl.client import AlocityClient, EndpointUnavailable, Page, PagingError, fetch_resource
from alocity_etl.progress import Progress
from alocity_etl.staging import PageJournal
from alocity_etl.testhooks import pause_at
from alocity_etl.warehouse import MergeStats, Warehouse
from alocity_etl.warehouse.raw_archive import encode_body
from alocity_etl.warehouse.schema import catalog_columns

Log = Callable[[str], None]

# An analyst's query (alocity-etl sql/shell, a notebook) holds the file only while it runs;
# the writer waits up to this long (ALOCITY_LOCK_TIMEOUT_S) instead of failing on the lock.
LOCK_TIMEOUT_S = 120.0
HOLD_WRITER_S = 1.0
# DuckDB keeps ~3-4 MB per committed day of a backfill until the file is closed (outside
# duckdb_memory(); measured in benchmarks/memory.py), so the writer is let go after this
# many days at most: a reopen costs ~0.2 s, and memory stays flat however long the window.
WRITER_MAX_DAYS = 8
# Days fetched ahead of the one being written: as many as fit in FETCH_AHEAD_BYTES of parsed
# pages, at most FETCH_AHEAD_DAYS. With room in the rate window the fetcher spends it in one
# burst and the (CPU-bound) writes run while the window refills; a slow window (or a huge
# day) brings it back to one day ahead. A parsed page takes ~11-14x its zlib text in memory
# (a day of the `large` sandbox: 1.2 MB compressed, 13 MB parsed; of `small`: 0.06 / 0.8 MB).
FETCH_AHEAD_DAYS = 31
FETCH_AHEAD_BYTES = 32 * 2**20
PARSED_PER_COMPRESSED = 14


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


def sync_for_run(wh: Warehouse, run_id: str) -> tuple[int, datetime]:
    """The sync of a Dagster run (one per run, shared by its steps) and its snapshot time."""
    row = wh.con.execute(
        "SELECT sync_id, started_at FROM meta.syncs WHERE dagster_run_id = ? ORDER BY sync_id LIMIT 1",
        [run_id],
    ).fetchone()
    if row is None:
        sync_id = wh.start_sync(run_id)
        row = wh.con.execute(
            "SELECT sync_id, started_at FROM meta.syncs WHERE sync_id = ?", [sync_id]
        ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def parent_rows(wh: Warehouse, resource: Resource) -> list[dict[str, Any]]:
    """Current rows of a fan-out resource's parent, as wire dicts holding the parent key."""
    assert resource.fan_out is not None
    key = resource.fan_out.parent_key
    col = snake(key)
    values = wh.con.execute(f'SELECT "{col}" FROM main."{resource.fan_out.parent}" ORDER BY 1').fetchall()
    return [{key: str(v) if not isinstance(v, int) else v} for (v,) in values]


def raw_page(resource: Resource, page: Page, window: tuple[datetime, datetime] | None) -> dict[str, Any]:
    """A fetched page as the raw archive stores it (payload only: never headers or tokens)."""
    endpoint = page.endpoint or resource.endpoint
    parent_key: Any = next(iter(page.parent.values())) if page.parent else None
    if endpoint == resource.detail_endpoint and resource.detail_key:
        # A detail page belongs to the listed item it enriches.
        parent_key = page.rows[0].get(resource.detail_key[0]) if page.rows else None
    return {
        "body": page.items,
        # Compressed here, in the fetching thread: zlib lets go of the GIL while it works.
        "body_z": encode_body(page.items),
        "endpoint": endpoint,
        "parent_key": parent_key,
        "params": page.params,
        "page_number": page.page_number,
        "fetched_at": page.fetched_at,
        "window": window,
    }


def _table_result(wh: Warehouse, table: str, stats: Any, sync_id: int) -> TableResult:
    row = wh.con.execute(f'SELECT count(*) FROM main."{table}"').fetchone()
    cols = catalog_columns(wh.con, "main", table)
    changes = wh.con.execute(
        "SELECT change_kind, column_name, coalesce(old_type, ''), coalesce(new_type, '') "
        "FROM meta.schema_changes WHERE table_name = ? AND sync_id = ?",
        [table, sync_id],
    ).fetchall()
    return TableResult(
        row_count=int(row[0]) if row else 0,
        inserted=stats.inserted,
        updated=stats.updated,
        deleted=stats.deleted,
        unchanged=stats.unchanged,
        columns=[(c, t) for c, t in cols],
        schema_changes=[f"{k} {c} {o}->{n}".strip() for k, c, o, n in changes],
    )


def _days(window: tuple[datetime, datetime]) -> list[tuple[datetime, datetime]]:
    """Split a partition-range window into UTC days: each day is fetched and written on its own."""
    out, start = [], window[0]
    while start < window[1]:
        end = min(start + timedelta(days=1), window[1])
        out.append((start, end))
        start = end
    return out


def _fetch(
    client: AlocityClient,
    resource: Resource,
    parents: list[dict[str, Any]] | None,
    window: tuple[datetime, datetime] | None,
    lookback_hours: int,
    progress: Progress | None,
    journal: PageJournal | None = None,
    sync_id: int = 0,
    committed: Callable[[int, tuple[datetime, datetime] | None], bool] = lambda s, w: False,
) -> list[dict[str, Any]]:
    """Every page of one resource (or one day of it). With a `journal`: payloads already
    journaled by an interrupted run are replayed, not requested, and each new one is
    journaled as it arrives."""
    fetch_window = window
    if window is not None:
        # Re-fetch a little before the day so late events land; dedup on id makes it safe.
        fetch_window = (window[0] - timedelta(hours=lookback_hours), window[1])
    pages: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    replay = journal.load() if journal is not None else {}
    if journal is not None:
        if replay and journal.sync_id is not None and committed(journal.sync_id, window):
            journal.discard()  # killed between its commit and its deletion: already written
            replay = {}
        journal.start(sync_id, replay)
    record = journal.record if journal is not None else None
    try:
        fetched = fetch_resource(
            client, resource, parents=parents, window=fetch_window, replay=replay, record=record
        )
        for page in fetched:
            pages.append(raw_page(resource, page, window))
            # Progress counts parents for fan-outs (a known total, hence an ETA), else pages.
            parent = tuple(sorted((page.parent or {}).items()))
            if progress is not None and (parents is None or parent not in seen):
                seen.add(parent)
                progress.advance()
    except (PagingError, EndpointUnavailable):
        if journal is not None:  # repeated pages must not be replayed; a 404 has nothing to resume
            journal.discard()
        raise
    finally:
        if journal is not None:
            journal.close()
    return pages


def sync_resource(
    client: AlocityClient,
    warehouse_path: str,
    resource: Resource,
    run_id: str,
    window: tuple[datetime, datetime] | None = None,
    lookback_hours: int = 0,
    log: Log = print,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> ResourceResult:
    """Fetch `resource` and write all its tables, one transaction per snapshot (or per UTC day).

    Dimensions: the full snapshot is fetched first, then written in one transaction.
    Events: each day of the window is fetched and written on its own, so memory stays
    flat over a long backfill and a failure keeps the days already written.
    """
    before = client.stats.as_dict()
    with Warehouse.open(warehouse_path, lock_timeout=lock_timeout_s) as wh:
        sync_id, as_of = sync_for_run(wh, run_id)
        parents = parent_rows(wh, resource) if resource.fan_out else None
        loads = set(
            wh.con.execute(
                "SELECT sync_id, window_start, window_end FROM meta.resource_loads WHERE resource = ?",
                [resource.name],
            ).fetchall()
        )

    def committed(journal_sync: int, day: tuple[datetime, datetime] | None) -> bool:
        ws, we = day if day is not None else (None, None)
        return any(s == journal_sync and w0 == ws and w1 == we for s, w0, w1 in loads)

    windows: list[tuple[datetime, datetime] | None] = _days(window) if window else [None]
    per_day = len(windows) > 1
    progress = Progress(
        resource.name,
        len(windows) if per_day else (len(parents) if parents is not None else None),
        log,
        unit="days" if per_day else "calls",
    )
    totals: dict[str, MergeStats] = {}
    unavailable = None
    # Several days: the next days are fetched in a worker thread while this one is written, so
    # the API and the warehouse work at the same time (see FETCH_AHEAD_BYTES: memory stays
    # flat however long the window). The client is thread-safe (client/fetch.py runs calls
    # at once too).
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alocity-fetch") if per_day else None
    ahead: deque[Future[list[dict[str, Any]]]] = deque()
    queued = 1  # windows[queued:] are not submitted yet
    day_bytes = 0  # the largest day so far, parsed

    def fetch(day: tuple[datetime, datetime] | None) -> list[dict[str, Any]]:
        journal = PageJournal(warehouse_path, resource.name, day)
        return _fetch(
            client,
            resource,
            parents,
            day,
            lookback_hours,
            None if per_day else progress,
            journal,
            sync_id,
            committed,
        )

    # The file stays open from one day to the next while the next day arrives within
    # HOLD_WRITER_S (a fast API: a backfill is write-bound, and each reopen + checkpoint
    # costs ~0.2 s), and is let go when the writer would wait longer on the API, so an
    # analyst's query is never blocked by a rate-limited fetch.
    writer: Warehouse | None = None
    writer_days = 0
    results: dict[str, TableResult] | None = None

    def _results(wh: Warehouse) -> dict[str, TableResult]:
        return {
            table: _table_result(wh, table, totals.get(table) or MergeStats(), sync_id)
            for table, (res, _) in tables().items()
            if res.name == resource.name
        }

    try:
        for day in windows:
            if writer is not None and (
                writer_days >= WRITER_MAX_DAYS or (ahead and not wait([ahead[0]], timeout=HOLD_WRITER_S).done)
            ):
                writer.close()
                writer = None
            try:
                pages = ahead.popleft().result() if ahead else fetch(day)
            except EndpointUnavailable as exc:
                unavailable = f"{resource.name}: {exc} — not available on this account, skipped"
                log(unavailable)
                break
            day_bytes = max(day_bytes, PARSED_PER_COMPRESSED * sum(len(p["body_z"]) for p in pages))
            depth = min(FETCH_AHEAD_DAYS, max(1, FETCH_AHEAD_BYTES // max(day_bytes, 1)))
            while pool is not None and queued < len(windows) and len(ahead) < depth:
                ahead.append(pool.submit(fetch, windows[queued]))
                queued += 1
            if writer is None:
                writer = Warehouse.open(warehouse_path, lock_timeout=lock_timeout_s)
                writer_days = 0
            written = writer.apply_pages(
                resource.name,
                pages,
                sync_id,
                as_of,
                full_snapshot=resource.write_mode is WriteMode.VERSIONED,
                window=day,
            )
            del pages  # one day in memory at a time (plus the days fetched ahead)
            writer_days += 1
            pause_at("commit", resource.name)
            PageJournal(warehouse_path, resource.name, day).discard()  # written: nothing to resume
            for table, stats in written.items():
                totals[table] = totals.get(table, MergeStats()) + stats
            if per_day:
                progress.advance()
        if writer is not None:  # still open: read the results on it rather than reopen the file
            results = _results(writer)
    finally:
        if writer is not None:
            writer.close()
        if pool is not None:  # a failed write: the days fetched ahead are dropped
            pool.shutdown(wait=True, cancel_futures=True)
    progress.finish()

    after = client.stats.as_dict()
    delta = {k: round(after[k] - before.get(k, 0), 3) for k in after}
    if results is None:
        with Warehouse.open(warehouse_path, read_only=True, lock_timeout=lock_timeout_s) as wh:
            results = _results(wh)
    return ResourceResult(resource.name, sync_id, results, delta, unavailable)


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
        row = wh.con.execute(
            "SELECT sync_id FROM meta.syncs WHERE dagster_run_id = ? ORDER BY sync_id LIMIT 1", [run_id]
        ).fetchone()
        if row is not None:
            wh.finish_sync(int(row[0]), "success" if success else "failed", requests, error)
