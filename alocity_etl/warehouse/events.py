"""Append-only event tables (``main.access_logs``): insert only ids not already stored.

Re-loading a partition (or an overlapping lookback window for late events) is therefore
a no-op for rows already present, and the table ends identical.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from alocity_etl.warehouse.schema import primary_key, q, stage, utc
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
    ``window`` is informational (ledger) - dedup is on the key across the whole table.
    """
    del window
    t = f"main.{q(table)}"
    stg, src = stage(con, table, df, sync_id, hashed=False)
    keys = primary_key(table)
    on = " AND ".join(f"a.{q(k)} = s.{q(k)}" for k in keys)
    cols = ", ".join(q(c) for c in src)
    dup = f"{stg}_dup"
    try:
        (total,) = con.execute(f"SELECT count(*) FROM {stg}").fetchall()[0] or (0,)
        new = 0
        if total:
            # Keys already stored, by an inner join: DuckDB hashes the smaller side (this
            # load) and streams the table past it. An anti-join against the table would hash
            # the whole table instead - memory growing with every day of a backfill.
            key_list = ", ".join(f"s.{q(k)}" for k in keys)
            con.execute(
                f"CREATE TEMP TABLE {dup} AS SELECT DISTINCT {key_list} FROM {stg} s JOIN {t} a ON {on}"
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
