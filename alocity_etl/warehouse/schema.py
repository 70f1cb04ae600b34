"""Catalog tables in DuckDB: creation, views, as-of macros, staging and schema drift.

Layout: versioned tables live in ``history.<table>`` (SCD2) with a current-state view
``main.<table>``; append-only tables are plain ``main.<table>``. Column drift is applied
here, before any data moves, and recorded in ``meta.schema_changes``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from alocity_etl.catalog import WriteMode, tables
from alocity_etl.normalise import INT_TYPES, _text, canonical_json, frame_meta, table_columns

SCD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("valid_from", "TIMESTAMPTZ"),
    ("valid_to", "TIMESTAMPTZ"),
    ("is_current", "BOOLEAN"),
    ("is_deleted", "BOOLEAN"),
    ("row_hash", "VARCHAR"),
    ("sync_id", "BIGINT"),
)
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (("sync_id", "BIGINT"), ("loaded_at", "TIMESTAMPTZ"))
_BOOKKEEPING = {c for c, _ in SCD_COLUMNS} | {c for c, _ in EVENT_COLUMNS}
_HASH_PREFIX = "__h__"
_counter = itertools.count()


def q(name: str) -> str:
    """Quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def is_versioned(table: str) -> bool:
    res, _ = tables()[table]
    return res.write_mode == WriteMode.VERSIONED


def primary_key(table: str) -> tuple[str, ...]:
    res, child = tables()[table]
    return child.primary_key if child else res.primary_key


def storage(table: str) -> str:
    """Fully qualified table that holds the rows."""
    return f"history.{q(table)}" if is_versioned(table) else f"main.{q(table)}"


def _schema(table: str) -> str:
    return "history" if is_versioned(table) else "main"


def norm_type(t: str) -> str:
    t = t.upper()
    return {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ", "INT": "INTEGER", "FLOAT8": "DOUBLE"}.get(t, t)


def catalog_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    """(column, DuckDB's type name) of a table or view of the warehouse, in order; [] if absent."""
    # duckdb_columns() rather than information_schema (a view over it): ~2.5x faster,
    # and this runs several times per table per write.
    return con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
        "ORDER BY column_index",
        [schema, table],
    ).fetchall()


def column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Stored columns (incl. bookkeeping) -> DuckDB type, in table order; {} if absent."""
    return {c: norm_type(t) for c, t in catalog_columns(con, _schema(table), table)}


def source_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [c for c in column_types(con, table) if c not in _BOOKKEEPING]


def record_change(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    kind: str,
    old_type: str | None,
    new_type: str | None,
    sync_id: int | None,
) -> None:
    """One meta.schema_changes row; `missing` at most once per (table, column, sync)."""
    if kind == "missing":
        seen = con.execute(
            "SELECT count(*) FROM meta.schema_changes WHERE table_name = ? AND column_name = ? "
            "AND change_kind = 'missing' AND sync_id IS NOT DISTINCT FROM ?",
            [table, column, sync_id],
        ).fetchall()[0]
        if seen and seen[0]:
            return
    con.execute(
        "INSERT INTO meta.schema_changes VALUES (?, ?, ?, ?, ?, ?, now())",
        [table, column, kind, old_type, new_type, sync_id],
    )


def ensure_catalog_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every catalog table (idempotent); add catalog columns a newer catalog declares.

    Runs on every writable open, so it reads the catalog of the database once and
    rewrites a view and its as-of macro only when the view is missing or out of date."""
    stored: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, name, col, typ in con.execute(
        "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name IN ('main', 'history') "
        "ORDER BY schema_name, table_name, column_index"
    ).fetchall():
        stored.setdefault((schema, name), []).append((col, norm_type(typ)))
    for table in tables():
        existing = dict(stored.get((_schema(table), table), []))
        cols = table_columns(table)
        extra = SCD_COLUMNS if is_versioned(table) else EVENT_COLUMNS
        changed = not existing
        if not existing:
            body = ", ".join(f"{q(c)} {t}" for c, t in [*cols, *extra])
            con.execute(f"CREATE TABLE {storage(table)} ({body})")
        else:
            for c, t in cols:
                if c not in existing:
                    con.execute(f"ALTER TABLE {storage(table)} ADD COLUMN {q(c)} {t}")
                    record_change(con, table, c, "added", None, t, None)
                    changed = True
        if not is_versioned(table):
            continue
        view = [c for c, _ in stored.get(("main", table), [])]
        source = [c for c in existing if c not in _BOOKKEEPING]
        if changed or view != source:  # the view and its as-of macro are always made together
            refresh_views(con, table)


def refresh_views(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Current-state view and as-of table macro of a versioned table (after any DDL)."""
    if not is_versioned(table):
        return
    cols = ", ".join(q(c) for c in source_columns(con, table))
    con.execute(
        f"CREATE OR REPLACE VIEW main.{q(table)} AS SELECT {cols} FROM history.{q(table)} "
        "WHERE is_current AND NOT is_deleted"
    )
    con.execute(
        f"CREATE OR REPLACE MACRO history.{q(table + '_as_of')}(as_of_ts) AS TABLE "
        f"SELECT {cols} FROM history.{q(table)} WHERE valid_from <= as_of_ts "
        "AND (valid_to IS NULL OR as_of_ts < valid_to) AND NOT is_deleted"
    )


def as_of_sql(table: str, columns: Iterable[str] | None = None) -> str:
    """SQL for the source state of a versioned table at a point in time (parameter ``?``)."""
    cols = ", ".join(q(c) for c in columns) if columns else "*"
    return (
        f"SELECT {cols} FROM history.{q(table)} WHERE valid_from <= ? "
        "AND (valid_to IS NULL OR ? < valid_to) AND NOT is_deleted"
    )


# ---------------------------------------------------------------- frames -> Arrow


def _pandas_type(s: pd.Series) -> str | None:
    """DuckDB type of a hand-made column, None when it is text/objects (decide later)."""
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(dt):
        return "BIGINT"
    if pd.api.types.is_float_dtype(dt):
        return "DOUBLE"
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "TIMESTAMPTZ"
    return None


def _arrow_column(s: pd.Series, typ: str) -> tuple[pa.Array, str]:
    """Arrow array for a column of the given DuckDB type; falls back to text (VARCHAR)."""
    try:
        if typ in INT_TYPES:
            return pa.array(s, type=pa.int64(), from_pandas=True), typ
        if typ == "BOOLEAN":
            return pa.array(s, type=pa.bool_(), from_pandas=True), typ
        if typ == "DOUBLE":
            return pa.array(s, type=pa.float64(), from_pandas=True), typ
        if typ == "TIMESTAMPTZ":
            ts = pd.to_datetime(s, utc=True)  # naive = UTC
            return pa.array(ts.dt.as_unit("us"), type=pa.timestamp("us", tz="UTC"), from_pandas=True), typ
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.array(s.astype(object).map(_text), type=pa.string(), from_pandas=True), "VARCHAR"
    try:
        return pa.array(s.astype(object), type=pa.string(), from_pandas=True), typ
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(s.astype(object).map(_text), type=pa.string(), from_pandas=True), typ


def to_arrow(
    con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame
) -> tuple[pa.Table, dict[str, str], list[str]]:
    """(Arrow table, DuckDB type of each df column, JSON columns) for a frame.

    Frames from `normalise` carry their types; for hand-made frames, text columns take the
    stored column's type when every value casts to it, else VARCHAR.
    """
    meta = frame_meta(df)
    existing = column_types(con, table)
    arrays: dict[str, pa.Array] = {}
    types: dict[str, str] = {}
    for col in df.columns:
        s = df[col].reset_index(drop=True)
        typ = (meta.types.get(col) if meta else None) or _pandas_type(s) or existing.get(col, "VARCHAR")
        arr, typ = _arrow_column(s, typ)
        untyped_text = meta is None and pa.types.is_string(arr.type) and typ not in ("VARCHAR", "JSON")
        if untyped_text and not _all_cast(con, arr, typ):
            typ = "VARCHAR"
        arrays[col], types[col] = arr, typ
    json_cols = list(meta.json_columns) if meta else []
    for col in json_cols:  # hash key: canonical JSON, insensitive to list and key order
        arrays[_HASH_PREFIX + col] = pa.array(
            df[col].reset_index(drop=True).map(_hash_json), type=pa.string(), from_pandas=True
        )
    arrays["__ord"] = pa.array(np.arange(len(df), dtype=np.int64))
    return pa.table(arrays), types, json_cols


def _hash_json(v: object) -> object:
    if not isinstance(v, str):
        return v
    import json

    try:
        return canonical_json(json.loads(v), sort_lists=True)
    except ValueError:
        return v


def _all_cast(con: duckdb.DuckDBPyConnection, arr: pa.Array, typ: str) -> bool:
    name = f"_chk_{next(_counter)}"
    register(con, name, pa.table({"v": arr}))
    try:
        row = con.execute(
            f"SELECT count(*) FROM {name} WHERE v IS NOT NULL AND TRY_CAST(v AS {typ}) IS NULL"
        ).fetchall()[0]
    finally:
        con.unregister(name)
    return bool(row) and row[0] == 0


# ---------------------------------------------------------------- drift


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
) -> None:
    """Apply column drift before loading: add new columns, widen mismatched ones, record
    both, and record source columns absent from the data (loaded as NULL)."""
    existing = column_types(con, table)
    changed = False
    for col, typ in types.items():
        if col in _BOOKKEEPING:
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
    if has_rows:
        absent = set(missing) | {c for c in source_columns(con, table) if c not in types}
        for col in sorted(absent):
            record_change(con, table, col, "missing", existing.get(col), None, sync_id)
    if changed:
        refresh_views(con, table)


def stage(
    con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame, sync_id: int | None, *, hashed: bool
) -> tuple[str, list[str]]:
    """Evolve the table for ``df``, then load ``df`` into a temp table with the stored
    types, one row per key (last wins) and, if ``hashed``, its ``row_hash``.

    Returns (temp table name, source columns)."""
    arrow, types, json_cols = to_arrow(con, table, df)
    meta = frame_meta(df)
    evolve(con, table, types, meta.missing if meta else [], sync_id, len(df) > 0)
    stored = column_types(con, table)
    src = source_columns(con, table)
    keys = primary_key(table)
    view, name = f"_arrow_{next(_counter)}", f"_stg_{next(_counter)}"
    register(con, view, arrow)
    try:
        sel = [
            f"CAST({q(c)} AS {stored[c]}) AS {q(c)}" if c in types else f"CAST(NULL AS {stored[c]}) AS {q(c)}"
            for c in src
        ]
        if hashed:
            parts = []
            for c in sorted(src):
                if c not in types:
                    continue  # NULL everywhere: NULLs are left out of the hash
                typed = f"CAST(CAST({q(c)} AS {stored[c]}) AS VARCHAR)"
                val = q(_HASH_PREFIX + c) if c in json_cols else typed
                lit = "'" + c.replace("'", "''") + "'"
                parts.append(f"CASE WHEN {q(c)} IS NULL THEN NULL ELSE {lit} || chr(31) || {val} END")
            joined = ", ".join(parts) or "''"
            row_hash = f"md5(concat_ws(chr(30), {joined}))"
            sel.append(f"{row_hash} AS row_hash")
        key_ok = " AND ".join(f"{q(k)} IS NOT NULL" for k in keys)
        part = ", ".join(q(k) for k in keys)
        if bool(df.duplicated(subset=list(keys), keep="last").any()):
            # A key listed twice (e.g. items shifting between pages): the last one wins.
            con.execute(
                f"CREATE TEMP TABLE {name} AS SELECT * EXCLUDE (__rn) FROM ("
                f"SELECT {', '.join(sel)}, row_number() OVER (PARTITION BY {part} ORDER BY __ord DESC) "
                f"AS __rn FROM {view} WHERE {key_ok}) WHERE __rn = 1"
            )
        else:  # the common case, without a 1M-row window sort
            con.execute(f"CREATE TEMP TABLE {name} AS SELECT {', '.join(sel)} FROM {view} WHERE {key_ok}")
    finally:
        con.unregister(view)
    return name, src


def register(con: duckdb.DuckDBPyConnection, name: str, obj: pa.Table) -> None:
    """con.register, after draining any result a caller left half-fetched (DuckDB 2 refuses
    to register while a `fetchone()` result is pending on the connection)."""
    con.execute("SELECT 1").fetchall()
    con.register(name, obj)


def utc(ts: datetime) -> datetime:
    """Aware UTC datetime (naive = UTC)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
