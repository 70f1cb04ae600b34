"""Small SQL pieces every warehouse module uses: quoting, UTC, DuckDB's own catalog."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa


def q(name: str) -> str:
    """Quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def utc(ts: datetime) -> datetime:
    """Aware UTC datetime (naive = UTC)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


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


def register(con: duckdb.DuckDBPyConnection, name: str, obj: pa.Table) -> None:
    """con.register, after draining any result a caller left half-fetched (DuckDB 2 refuses
    to register while a `fetchone()` result is pending on the connection)."""
    con.execute("SELECT 1").fetchall()
    con.register(name, obj)
