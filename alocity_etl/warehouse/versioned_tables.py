"""SCD type 2 merge of a full snapshot into ``history.<table>``, set-based.

Per key: new -> insert a current version; changed row_hash -> close the current version
(valid_to = as_of) and insert a new one; same hash -> nothing written; a current live key
absent from a full snapshot -> close it and insert a tombstone (is_deleted, is_current,
source columns copied); a key back after a tombstone -> close the tombstone, insert a new
version (counted as inserted). At most one ``is_current`` row per key, always.
"""

from __future__ import annotations

from dataclasses import asdict, astuple, dataclass
from datetime import datetime

import duckdb
import pandas as pd

from alocity_etl.warehouse.layout import primary_key
from alocity_etl.warehouse.sql import q, utc
from alocity_etl.warehouse.staging import stage


@dataclass(frozen=True)
class MergeStats:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def __add__(self, other: MergeStats) -> MergeStats:
        return MergeStats(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def merge_versioned(
    con: duckdb.DuckDBPyConnection,
    table: str,
    df: pd.DataFrame,
    sync_id: int,
    as_of: datetime,
    full_snapshot: bool = True,
) -> MergeStats:
    """Merge ``df`` (the source state at ``as_of``) into ``history.<table>``.

    ``full_snapshot=False`` treats ``df`` as a partial load: nothing is deleted.
    Runs inside the caller's transaction, if any.
    """
    as_of = utc(as_of)
    h = f"history.{q(table)}"
    last = con.execute(f"SELECT max(valid_from) FROM {h}").fetchall()[0]
    if last and last[0] is not None and utc(last[0]) > as_of:
        raise ValueError(f"{table}: as_of {as_of.isoformat()} is before the latest version {last[0]}")
    stg, src = stage(con, table, df, sync_id, hashed=True)
    keys = primary_key(table)
    on = " AND ".join(f"h.{q(k)} = s.{q(k)}" for k in keys)
    cls, dele = f"{stg}_cls", f"{stg}_del"
    cols = ", ".join(q(c) for c in src)
    bk = "valid_from, valid_to, is_current, is_deleted, row_hash, sync_id"
    try:
        con.execute(
            f"CREATE TEMP TABLE {cls} AS SELECT s.*, CASE "
            "WHEN h.is_current IS NULL THEN 'new' WHEN h.is_deleted THEN 'resurrect' "
            "WHEN h.row_hash IS DISTINCT FROM s.row_hash THEN 'changed' ELSE 'same' END AS __action "
            f"FROM {stg} s LEFT JOIN (SELECT * FROM {h} WHERE is_current) h ON {on}"
        )
        if full_snapshot:
            con.execute(
                f"CREATE TEMP TABLE {dele} AS SELECT h.* FROM {h} h WHERE h.is_current AND NOT h.is_deleted "
                f"AND NOT EXISTS (SELECT 1 FROM {stg} s WHERE {on})"
            )
        else:
            con.execute(f"CREATE TEMP TABLE {dele} AS SELECT * FROM {h} LIMIT 0")
        counts = dict(con.execute(f"SELECT __action, count(*) FROM {cls} GROUP BY ALL").fetchall())
        (n_del,) = con.execute(f"SELECT count(*) FROM {dele}").fetchall()[0] or (0,)
        key_list = ", ".join(q(k) for k in keys)
        if counts.get("changed", 0) + counts.get("resurrect", 0) + n_del:
            kon = " AND ".join(f"{h}.{q(k)} = k.{q(k)}" for k in keys)
            con.execute(
                f"UPDATE {h} SET valid_to = ?, is_current = false FROM ("
                f"SELECT {key_list} FROM {cls} WHERE __action IN ('changed', 'resurrect') "
                f"UNION ALL SELECT {key_list} FROM {dele}) k WHERE {h}.is_current AND {kon}",
                [as_of],
            )
        if counts.get("new", 0) + counts.get("changed", 0) + counts.get("resurrect", 0):
            con.execute(
                f"INSERT INTO {h} ({cols}, {bk}) SELECT {cols}, ?, NULL, true, false, row_hash, ? "
                f"FROM {cls} WHERE __action <> 'same'",
                [as_of, sync_id],
            )
        if n_del:
            con.execute(
                f"INSERT INTO {h} ({cols}, {bk}) SELECT {cols}, ?, NULL, true, true, row_hash, ? FROM {dele}",
                [as_of, sync_id],
            )
    finally:
        for t in (stg, cls, dele):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    return MergeStats(
        inserted=counts.get("new", 0) + counts.get("resurrect", 0),
        updated=counts.get("changed", 0),
        deleted=int(n_del),
        unchanged=counts.get("same", 0),
    )
