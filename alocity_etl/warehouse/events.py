"""Append-only event tables (``main.access_logs``): insert only ids not already stored.

Re-reading a day (a day not settled yet, a resumed listing) is therefore
a no-op for rows already present, and the table ends identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from alocity_etl.catalog import snake, tables
from alocity_etl.warehouse.access_log_days import day_start
from alocity_etl.warehouse.layout import primary_key
from alocity_etl.warehouse.sql import q, utc
from alocity_etl.warehouse.staging import stage
from alocity_etl.warehouse.versioned_tables import MergeStats


def append_events(
    con: duckdb.DuckDBPyConnection,
    table: str,
    df: pd.DataFrame,
    sync_id: int,
    window: tuple[datetime, datetime] | None,
    loaded_at: datetime,
) -> MergeStats:
    """Insert rows of ``df`` whose key is absent. Returns inserted / unchanged (already there).

    ``loaded_at`` is the load's as_of (not the wall clock) so a rebuild reproduces it;
    ``window`` is informational (ledger) - dedup is on the key, against every stored row
    of the load's time span (see `_span`).
    """
    del window
    t = f"main.{q(table)}"
    stg, src = stage(con, table, df, sync_id, hashed=False)
    keys = primary_key(table)
    on = " AND ".join(f"a.{q(k)} = s.{q(k)}" for k in keys)
    cols = ", ".join(q(c) for c in src)
    dup = f"{stg}_dup"
    try:
        total, span = _span(con, table, stg, src)
        new = 0
        if total:
            # Keys already stored, by an inner join: DuckDB hashes the smaller side (this
            # load) and streams the table past it. An anti-join against the table would hash
            # the whole table instead - memory growing with every day of a backfill.
            # An event never changes its time, so only stored rows within this load's time
            # span can be the same events: the zone maps of a table appended in time order
            # then skip every other row group, and a day costs the same on the first night
            # as after years of history (time and memory).
            key_list = ", ".join(f"s.{q(k)}" for k in keys)
            within = f" AND a.{q(span[0])} BETWEEN ? AND ?" if span else ""
            con.execute(
                f"CREATE TEMP TABLE {dup} AS "
                f"SELECT DISTINCT {key_list} FROM {stg} s JOIN {t} a ON {on}{within}",
                list(span[1:]) if span else [],
            )
            # INSERT returns its row count: no second pass to count the new rows.
            row = con.execute(
                f"INSERT INTO {t} ({cols}, sync_id, loaded_at) SELECT {cols}, ?, ? FROM {stg} s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {dup} a WHERE {on})",
                [sync_id, utc(loaded_at)],
            ).fetchall()
            new = int(row[0][0]) if row and row[0] else 0
    finally:
        con.execute(f"DROP TABLE IF EXISTS {stg}")
        con.execute(f"DROP TABLE IF EXISTS {dup}")
    return MergeStats(inserted=int(new), unchanged=int(total - new))


def _span(
    con: duckdb.DuckDBPyConnection, table: str, stg: str, src: list[str]
) -> tuple[int, tuple[str, Any, Any] | None]:
    """(rows staged, (time column, earliest, latest) of the load, or None to compare with all).

    None when the resource has no cursor, or a staged row has no usable time (a drifted
    type, a null): then every stored row is compared, as before."""
    res, _ = tables()[table]
    col = snake(res.cursor) if res.cursor else None
    if col is None or col not in src:
        (total,) = con.execute(f"SELECT count(*) FROM {stg}").fetchall()[0]
        return int(total), None
    total, nulls, lo, hi = con.execute(
        f"SELECT count(*), count(*) - count({q(col)}), min({q(col)}), max({q(col)}) FROM {stg}"
    ).fetchall()[0]
    if not total or nulls or not isinstance(lo, datetime) or not isinstance(hi, datetime):
        return int(total), None
    if not _stored_as_time(con, table, col):  # widened by drift: compare all
        return int(total), None
    return int(total), (col, lo, hi)


def _stored_as_time(con: duckdb.DuckDBPyConnection, table: str, col: str) -> bool:
    """Whether the stored column is still a timestamp (drift may have widened it to text)."""
    stored = con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? "
        "AND column_name = ?",
        [table, col],
    ).fetchall()
    return bool(stored) and stored[0][0].startswith("TIMESTAMP")


def events_by_day(con: duckdb.DuckDBPyConnection, table: str, days: Sequence[date]) -> dict[date, int]:
    """Stored events of `table` per UTC day of its time column, for `days` (the session's
    time zone is UTC). Empty when the table has no time column."""
    res, _ = tables()[table]
    if not days or not res.cursor or not _stored_as_time(con, table, snake(res.cursor)):
        return {}
    col = q(snake(res.cursor))
    rows = con.execute(
        f"SELECT CAST({col} AS DATE), count(*) FROM main.{q(table)} "
        f"WHERE {col} >= ? AND {col} < ? GROUP BY 1",
        [day_start(min(days)), day_start(max(days) + timedelta(days=1))],
    ).fetchall()
    return {d: int(n) for d, n in rows}
