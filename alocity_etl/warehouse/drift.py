"""Schema drift: the stored columns follow the data (new columns added, mismatched ones
widened), recorded in ``meta.schema_changes``, before any row moves."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from alocity_etl.normalise import INT_TYPES
from alocity_etl.warehouse.layout import BOOKKEEPING, column_types, refresh_views, storage
from alocity_etl.warehouse.schema_changes import record_change
from alocity_etl.warehouse.sql import q


def _compatible(new: str, old: str) -> bool:
    if new == old or old in ("VARCHAR", "JSON"):
        return True
    rank = {"TINYINT": 1, "SMALLINT": 2, "INTEGER": 3, "BIGINT": 4, "HUGEINT": 5}
    if new in rank and old in rank:
        return rank[new] <= rank[old]
    return new in rank and old == "DOUBLE"


def evolve(
    con: duckdb.DuckDBPyConnection,
    table: str,
    types: dict[str, str],
    missing: Iterable[str],
    sync_id: int | None,
    has_rows: bool,
    existing: dict[str, str],
) -> dict[str, str]:
    """Apply column drift before loading: add new columns, widen mismatched ones, record
    both, and record source columns absent from the data (loaded as NULL). ``existing``:
    the table's columns as the caller just read them. Returns the columns after the drift."""
    changed = False
    for col, typ in types.items():
        if col in BOOKKEEPING:
            raise ValueError(f"{table}: column {col!r} is reserved for the warehouse")
        if col not in existing:
            con.execute(f"ALTER TABLE {storage(table)} ADD COLUMN {q(col)} {typ}")
            record_change(con, table, col, "added", None, typ, sync_id)
            changed = True
        elif not _compatible(typ, existing[col]):
            old = existing[col]
            both_int = typ in INT_TYPES and old in INT_TYPES
            new = "BIGINT" if both_int else "VARCHAR"
            # Casting to a wider type keeps every stored value (VARCHAR holds their text).
            con.execute(f"ALTER TABLE {storage(table)} ALTER COLUMN {q(col)} TYPE {new}")
            record_change(con, table, col, "type_changed", old, new, sync_id)
            changed = True
    after = column_types(con, table) if changed else existing
    if has_rows:
        absent = set(missing) | {c for c in after if c not in BOOKKEEPING and c not in types}
        for col in sorted(absent):
            record_change(con, table, col, "missing", existing.get(col), None, sync_id)
    if changed:
        refresh_views(con, table)
    return after
