"""A frame staged for a write: converted to Arrow with the stored column types, the table
evolved for it (drift.py), then loaded into a temp table, one row per key, with its
``row_hash`` for versioned tables."""

from __future__ import annotations

import itertools
import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from alocity_etl.normalise import INT_TYPES, _text, canonical_json, frame_meta
from alocity_etl.warehouse.drift import evolve
from alocity_etl.warehouse.layout import BOOKKEEPING, column_types, primary_key
from alocity_etl.warehouse.sql import q, register

_HASH_PREFIX = "__h__"
_counter = itertools.count()


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
    con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame, existing: dict[str, str]
) -> tuple[pa.Table, dict[str, str], list[str]]:
    """(Arrow table, DuckDB type of each df column, JSON columns) for a frame.

    Frames from `normalise` carry their types; for hand-made frames, text columns take the
    stored column's type when every value casts to it, else VARCHAR. ``existing``: the
    table's stored columns and types.
    """
    meta = frame_meta(df)
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


def stage(
    con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame, sync_id: int | None, *, hashed: bool
) -> tuple[str, list[str]]:
    """Evolve the table for ``df``, then load ``df`` into a temp table with the stored
    types, one row per key (last wins) and, if ``hashed``, its ``row_hash``.

    Returns (temp table name, source columns)."""
    # The table's columns are read once and handed on: each read is a catalog scan.
    existing = column_types(con, table)
    arrow, types, json_cols = to_arrow(con, table, df, existing)
    meta = frame_meta(df)
    stored = evolve(con, table, types, meta.missing if meta else [], sync_id, len(df) > 0, existing)
    src = [c for c in stored if c not in BOOKKEEPING]
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
