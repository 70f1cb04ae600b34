"""The DuckDB warehouse: SCD2 history, append-only events, raw page archive, sync ledger.

Layout::

    raw.pages                  every fetched payload (a view over raw.page_meta + page_parts)
    history.<table>            SCD2 versions of each versioned table (+ child tables)
    history.<table>_as_of(ts)  table macro: source state at ts
    main.<table>               view: current, non-deleted rows of history.<table>
    main.access_logs           append-only events (+ result_label, sync_id, loaded_at)
    meta.*                     schema_version, syncs, table_syncs, cursors,
                               schema_changes, resource_loads

Use `Warehouse.open()`; write a resource with `apply_pages` (archives the pages and
normalises them the same way rebuild will), a day of events with `apply_day`.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pandas as pd

from alocity_etl.warehouse import access_log_days, ledger, migrations, raw_archive, schema_changes
from alocity_etl.warehouse.access_log_days import day_start
from alocity_etl.warehouse.connection import (
    WarehouseCorruptError,
    WarehouseError,
    WarehouseLockedError,
    WarehousePathError,
    connect,
    disconnect,
    sqlalchemy_engine,
    warehouse_path,
)
from alocity_etl.warehouse.events import append_events, events_by_day
from alocity_etl.warehouse.layout import as_of_sql, ensure_catalog_tables, is_versioned
from alocity_etl.warehouse.loads import load_resource
from alocity_etl.warehouse.rebuild import rebuild_tables
from alocity_etl.warehouse.sql import catalog_columns, q, utc
from alocity_etl.warehouse.versioned_tables import MergeStats, merge_versioned
from alocity_etl.warehouse.write_hooks import NO_HOOKS, WriteHooks

__all__ = [
    "MergeStats",
    "Warehouse",
    "WarehouseCorruptError",
    "WarehouseError",
    "WarehouseLockedError",
    "WarehousePathError",
    "append_events",
    "as_of_sql",
    "merge_versioned",
    "migrations",
    "rebuild",
    "sqlalchemy_engine",
    "warehouse_path",
]

Window = tuple[datetime, datetime]


class Warehouse:
    """A small façade over one open DuckDB warehouse connection."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool, hooks: WriteHooks = NO_HOOKS
    ) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        self.hooks = hooks
        # The file stays attached to the process's DuckDB instance until detached: one left
        # unclosed is detached when it is collected, as a dropped connection used to be.
        self._detach = weakref.finalize(self, disconnect, con)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        lock_timeout: float = 0.0,
        hooks: WriteHooks = NO_HOOKS,
    ) -> Warehouse:
        """Open (creating and migrating if needed) the warehouse at path / $ALOCITY_WAREHOUSE.

        DuckDB allows one writing process per file: with ``lock_timeout`` > 0 a locked file
        is retried for that many seconds (parallel Dagster steps) before
        `WarehouseLockedError`."""
        p = warehouse_path(path)
        deadline = time.monotonic() + lock_timeout
        while True:
            try:
                con = connect(p, read_only=read_only)
                break
            except WarehouseLockedError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)
        try:
            have, want = migrations.current_version(con), migrations.latest_version()
            if read_only:
                if have != want:
                    raise WarehouseError(
                        f"warehouse {p} is at schema version {have}, this code needs {want}; "
                        "open it once for writing to upgrade"
                    )
            else:
                if have > want:
                    raise WarehouseError(
                        f"warehouse {p} has schema version {have}, newer than this code ({want})"
                    )
                if have < want:
                    migrations.migrate(con, current=have)
                con.begin()
                try:
                    ensure_catalog_tables(con)
                    con.commit()
                except Exception:
                    con.rollback()
                    raise
        except Exception:
            disconnect(con)
            raise
        return cls(con, p, read_only, hooks)

    def close(self) -> None:
        self._detach()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- ledger
    def start_sync(self, dagster_run_id: str | None = None, started_at: datetime | None = None) -> int:
        return ledger.start_sync(self.con, dagster_run_id, started_at)

    def finish_sync(
        self, sync_id: int, status: str, requests: int | None = None, error: str | None = None
    ) -> None:
        ledger.finish_sync(self.con, sync_id, status, requests, error)

    def sync_for_run(self, run_id: str) -> tuple[int, datetime]:
        """(sync id, snapshot time) of a Dagster run's sync, opened by its first step."""
        return ledger.sync_for_run(self.con, run_id)

    def finish_run(self, run_id: str, success: bool, requests: int, error: str | None = None) -> None:
        """Close the ledger entry of a Dagster run (status, requests, first error line)."""
        found = ledger.sync_of_run(self.con, run_id)
        if found is not None:
            self.finish_sync(found[0], "success" if success else "failed", requests, error)

    def mark_interrupted(self) -> int:
        """Close every sync still "running" as "interrupted" (only under the sync lock)."""
        return ledger.mark_interrupted(self.con)

    def syncs_that_loaded(self, resource_name: str) -> set[int]:
        return ledger.syncs_that_loaded(self.con, resource_name)

    def current_values(self, table: str, column: str) -> list[Any]:
        """Every value of `column` among the current rows of `table`, sorted."""
        rows = self.con.execute(f"SELECT {q(column)} FROM main.{q(table)} ORDER BY 1").fetchall()
        return [v for (v,) in rows]

    def table_summary(self, table: str, sync_id: int) -> tuple[int, list[tuple[str, str]], list[str]]:
        """(current rows, (column, type) in order, the column changes `sync_id` made) of a table."""
        row = self.con.execute(f"SELECT count(*) FROM main.{q(table)}").fetchone()
        columns = [(c, t) for c, t in catalog_columns(self.con, "main", table)]
        changes = schema_changes.schema_changes_of(self.con, table, sync_id)
        return (int(row[0]) if row else 0), columns, changes

    # -- writes
    def apply_pages(
        self,
        resource_name: str,
        raw_pages: Sequence[dict[str, Any]],
        sync_id: int,
        as_of: datetime,
        *,
        full_snapshot: bool = True,
        window: Window | None = None,
    ) -> dict[str, MergeStats]:
        """Archive ``raw_pages`` and write every table of one resource from them, in ONE
        transaction (normalised exactly as `rebuild` does later). Any exception rolls
        everything back. Returns {table: MergeStats}."""
        out, _ = self._apply(resource_name, raw_pages, sync_id, as_of, full_snapshot, window)
        return out

    def apply_day(
        self,
        resource_name: str,
        raw_pages: Sequence[dict[str, Any]],
        sync_id: int,
        as_of: datetime,
        day: date,
        read_at: datetime,
    ) -> tuple[dict[str, MergeStats], access_log_days.DayRead]:
        """`apply_pages` for one UTC day of an event resource, noting in the day ledger, in the
        same transaction, that a read begun at ``read_at`` wrote it (see access_log_days)."""
        out, reads = self._apply(resource_name, raw_pages, sync_id, as_of, False, None, read_at, [day])
        return out, reads[0]

    def apply_days(
        self,
        resource_name: str,
        days: Sequence[tuple[date, Sequence[dict[str, Any]]]],
        sync_id: int,
        as_of: datetime,
        read_at: datetime,
    ) -> tuple[dict[str, MergeStats], list[access_log_days.DayRead]]:
        """`apply_day` for several UTC days (each page with its day's ``window``) in ONE
        transaction and one load: a backfill's normalising and inserting cost per call about
        what they cost per row, so days written one by one spent ~4x the CPU.

        Only for days no read has completed yet (their events cannot be late): each day's
        ``inserted`` is counted by its events' UTC time, not by the page it came in, which can
        only differ for an event without a usable time (counted on the last day)."""
        if not days:
            return {}, []
        wanted = [d for d, _ in days]
        complete = access_log_days.completed(self.con, wanted)
        if complete:
            raise ValueError(f"apply_days: {complete[0]} was read complete before; write it with apply_day")
        pages = [p for _, day_pages in days for p in day_pages]
        return self._apply(resource_name, pages, sync_id, as_of, False, None, read_at, wanted)

    def _apply(
        self,
        name: str,
        raw_pages: Sequence[dict[str, Any]],
        sync_id: int,
        as_of: datetime,
        full_snapshot: bool,
        window: Window | None,
        read_at: datetime | None = None,
        days: Sequence[date] = (),
    ) -> tuple[dict[str, MergeStats], list[access_log_days.DayRead]]:
        if days:  # the days' span, whatever the pages say
            window = (day_start(min(days)), day_start(max(days)) + timedelta(days=1))
        window = window or raw_archive.window_of(raw_pages)
        reads: list[access_log_days.DayRead] = []
        self.con.begin()
        try:
            seq = ledger.next_load(self.con, sync_id, name, as_of, full_snapshot, window)
            raw_archive.archive_pages(self.con, name, raw_pages, sync_id, seq)
            before = events_by_day(self.con, name, days) if len(days) > 1 else {}
            self.hooks.reached("normalise", name)
            out = load_resource(self.con, name, raw_pages, None, sync_id, as_of, full_snapshot, window)
            if read_at is not None and days:
                inserted = out[name].inserted
                per_day = {days[0]: inserted}
                if len(days) > 1:
                    after = events_by_day(self.con, name, days)
                    per_day = {d: after.get(d, 0) - before.get(d, 0) for d in days}
                    per_day[days[-1]] += inserted - sum(per_day.values())
                reads = [access_log_days.record_read(self.con, d, read_at, per_day[d], sync_id) for d in days]
            self.hooks.reached("write", name)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        self.hooks.reached("commit", name)
        return out, reads

    def rebuild(self) -> dict[str, int]:
        """Re-derive every table from raw.pages (see rebuild.py). Returns {table: rows}."""
        return rebuild_tables(self.con)

    # -- reads
    def current(self, table: str) -> pd.DataFrame:
        """Current rows (the main.<table> view / events table)."""
        return self.con.execute(f"SELECT * FROM main.{q(table)}").df()

    def as_of(self, table: str, ts: datetime) -> pd.DataFrame:
        """Source state of a versioned table at ``ts`` (same as history.<table>_as_of(ts))."""
        if not is_versioned(table):
            raise ValueError(f"{table} is not versioned")
        ts = utc(ts)
        return self.con.execute(f"SELECT * FROM history.{q(table + '_as_of')}(?)", [ts]).df()


def rebuild(path: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Open the warehouse for writing and re-derive every table from raw.pages (no API calls)."""
    with Warehouse.open(path) as wh:
        return wh.rebuild()
