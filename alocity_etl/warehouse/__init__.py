"""The DuckDB warehouse: SCD2 history, append-only events, raw page archive, sync ledger.

Layout::

    raw.pages                  every fetched payload (a view over raw.page_meta + page_parts)
    history.<table>            SCD2 versions of each versioned table (+ child tables)
    history.<table>_as_of(ts)  table macro: source state at ts
    main.<table>               view: current, non-deleted rows of history.<table>
    main.access_logs           append-only events (+ result_label, sync_id, loaded_at)
    meta.*                     schema_version, syncs, table_syncs, cursors,
                               schema_changes, resource_loads

Use `Warehouse.open()`; write a resource with `apply_pages` (preferred: archives the
pages and normalises them the same way rebuild will) or `apply` (frames you normalised).
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pandas as pd

from alocity_etl.catalog import Resource
from alocity_etl.testhooks import pause_at
from alocity_etl.warehouse import access_log_days, ledger, migrations, raw_archive
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
from alocity_etl.warehouse.events import append_events
from alocity_etl.warehouse.loads import load_resource
from alocity_etl.warehouse.rebuild import rebuild_tables
from alocity_etl.warehouse.schema import as_of_sql, ensure_catalog_tables, is_versioned, q, utc
from alocity_etl.warehouse.versioned_tables import MergeStats, merge_versioned

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

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
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
                migrations.migrate(con)
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
        return cls(con, p, read_only)

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

    def get_cursor(self, resource_name: str) -> str | None:
        return ledger.get_cursor(self.con, resource_name)

    def set_cursor(self, resource_name: str, value: Any, sync_id: int | None = None) -> None:
        ledger.set_cursor(self.con, resource_name, value, sync_id)

    # -- writes
    def apply(
        self,
        resource_name: str | Resource,
        frames: Mapping[str, pd.DataFrame] | None,
        raw_pages: Sequence[dict[str, Any]],
        sync_id: int,
        as_of: datetime,
        *,
        full_snapshot: bool = True,
        window: Window | None = None,
    ) -> dict[str, MergeStats]:
        """Archive ``raw_pages`` and write every table of one resource in ONE transaction.

        ``frames=None`` normalises the pages (`assemble` + `normalise`), exactly what
        `rebuild` does later - prefer it. Any exception rolls everything back.
        Returns {table: MergeStats}.
        """
        name = resource_name.name if isinstance(resource_name, Resource) else resource_name
        out, _ = self._apply(name, frames, raw_pages, sync_id, as_of, full_snapshot, window, None)
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
        start = access_log_days.day_start(day)
        return self._apply(
            resource_name, None, raw_pages, sync_id, as_of, False, (start, start + timedelta(days=1)), read_at
        )

    def _apply(
        self,
        name: str,
        frames: Mapping[str, pd.DataFrame] | None,
        raw_pages: Sequence[dict[str, Any]],
        sync_id: int,
        as_of: datetime,
        full_snapshot: bool,
        window: Window | None,
        read_at: datetime | None,
    ) -> tuple[dict[str, MergeStats], access_log_days.DayRead | None]:
        window = window or raw_archive.window_of(raw_pages)
        read = None
        self.con.begin()
        try:
            supplied = frames is not None
            seq = ledger.next_load(self.con, sync_id, name, as_of, full_snapshot, window, supplied)
            raw_archive.archive_pages(self.con, name, raw_pages, sync_id, seq)
            pause_at("normalise", name)  # test-only kill points, inert by default
            out = load_resource(self.con, name, raw_pages, frames, sync_id, as_of, full_snapshot, window)
            if read_at is not None and window is not None:
                inserted = out[name].inserted
                read = access_log_days.record_read(self.con, window[0].date(), read_at, inserted, sync_id)
            pause_at("write", name)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        return out, read

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
        """`apply` with the frames derived from the pages (the rebuild-safe path)."""
        return self.apply(
            resource_name, None, raw_pages, sync_id, as_of, full_snapshot=full_snapshot, window=window
        )

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

    def schema_changes(self) -> pd.DataFrame:
        return self.con.execute("SELECT * FROM meta.schema_changes ORDER BY detected_at").df()


def rebuild(path: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Open the warehouse for writing and re-derive every table from raw.pages (no API calls)."""
    with Warehouse.open(path) as wh:
        return wh.rebuild()
