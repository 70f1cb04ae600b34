"""Where each catalog table lives, and its DDL.

Versioned tables live in ``history.<table>`` (SCD2) with a current-state view
``main.<table>`` and an as-of macro ``history.<table>_as_of(ts)``; append-only tables are
plain ``main.<table>``. The bookkeeping columns each kind carries are below.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from alocity_etl.catalog import WriteMode, tables
from alocity_etl.normalise import table_columns
from alocity_etl.warehouse.schema_changes import record_change
from alocity_etl.warehouse.sql import catalog_columns, norm_type, q

SCD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("valid_from", "TIMESTAMPTZ"),
    ("valid_to", "TIMESTAMPTZ"),
    ("is_current", "BOOLEAN"),
    ("is_deleted", "BOOLEAN"),
    ("row_hash", "VARCHAR"),
    ("sync_id", "BIGINT"),
)
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (("sync_id", "BIGINT"), ("loaded_at", "TIMESTAMPTZ"))
BOOKKEEPING = {c for c, _ in SCD_COLUMNS} | {c for c, _ in EVENT_COLUMNS}


def is_versioned(table: str) -> bool:
    res, _ = tables()[table]
    return res.write_mode == WriteMode.VERSIONED


def primary_key(table: str) -> tuple[str, ...]:
    res, child = tables()[table]
    return child.primary_key if child else res.primary_key


def storage(table: str) -> str:
    """Fully qualified table that holds the rows."""
    return f"history.{q(table)}" if is_versioned(table) else f"main.{q(table)}"


def schema_of(table: str) -> str:
    return "history" if is_versioned(table) else "main"


def column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Stored columns (incl. bookkeeping) -> DuckDB type, in table order; {} if absent."""
    return {c: norm_type(t) for c, t in catalog_columns(con, schema_of(table), table)}


def source_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [c for c in column_types(con, table) if c not in BOOKKEEPING]


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
        existing = dict(stored.get((schema_of(table), table), []))
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
        source = [c for c in existing if c not in BOOKKEEPING]
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
