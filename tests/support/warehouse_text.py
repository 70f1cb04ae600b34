"""Every table of a warehouse as text, for scanning it for what must never be stored (secrets)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from alocity_etl.warehouse.raw_archive import body_text
from tests.support.reconcile import column_names


def table_rows_as_text(path: Path) -> dict[str, list[str]]:
    """{"schema.table": its rows, each tab-separated text (NULL as "")}. raw.pages keeps its
    payloads zlib-compressed in raw.page_parts: they are read whole, as the JSON text they
    hold, through the raw.pages view that joins them back."""
    con = duckdb.connect(str(path), read_only=True)
    con.create_function("raw_json", body_text, ["BLOB"], "VARCHAR", null_handling="special")
    try:
        out: dict[str, list[str]] = {}
        for schema, table in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE (schema_name, table_name) <> ('raw', 'page_parts') "
            "UNION ALL SELECT 'raw', 'pages' ORDER BY 1, 2"
        ).fetchall():
            cols = column_names(con, schema, table)
            sel = ", ".join(f'raw_json("{c}")' if c == "body_z" else f'"{c}"::VARCHAR' for c in cols)
            rows = con.execute(f'SELECT {sel} FROM "{schema}"."{table}"').fetchall()
            out[f"{schema}.{table}"] = ["\t".join("" if v is None else v for v in row) for row in rows]
        return out
    finally:
        con.close()
